# Sourced first by the bench/ scripts that take [--quick] [--keep], with
# their arguments: sets MODE (full or quick) and KEEP (1: leave the work
# dir), or exits 2 with the usage line.
MODE=full KEEP=0
for a in "$@"; do
  case $a in
    --quick) MODE=quick ;;
    --keep) KEEP=1 ;;
    *) echo "usage: ${0#"$PWD/"} [--quick] [--keep]" >&2; exit 2 ;;
  esac
done
