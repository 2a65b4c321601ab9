#!/usr/bin/env bash
# The Dockerfile's runtime stage, checked without a Docker engine: builds its filesystem
# (Debian bookworm, minbase, as debian:bookworm-slim) with debootstrap, runs the stage's own
# RUN line in it, copies in the release binary as the builder stage would (built here, on
# Debian bookworm like the rust:*-bookworm builder), then runs the image's default command
# (`gexlake nightly`) as the image's user (uid 10001) in its WORKDIR with its ENV, on the
# sample archives. Checks: the binary's shared libraries are all in the image, the CA bundle
# the TLS clients read is there, the job exits 0 writing a lake owned by uid 10001, and
# every stderr line is JSON with a Cloud Logging severity.
#
# Not run by CI (it downloads ~40 MB of Debian packages and needs root for chroot):
#   sudo tests/image_runtime.sh        (GEXLAKE_IMAGE_ROOT picks where the root lives)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "image_runtime: needs root (debootstrap, chroot)" >&2; exit 1; }
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/gexlake/target}"
root="${GEXLAKE_IMAGE_ROOT:-/var/tmp/gexlake-image-root}"

# The runtime stage's instructions, read from the Dockerfile itself.
stage="$(sed -n '/^FROM debian:bookworm-slim/,$p' Dockerfile)"
[ -n "$stage" ] || { echo "image_runtime: no 'FROM debian:bookworm-slim' stage in the Dockerfile" >&2; exit 1; }
run_line="$(printf '%s\n' "$stage" | sed -n '/^RUN /,/[^\\]$/p' | sed -e 's/^RUN //' -e 's/\\$//' | tr '\n' ' ')"
user="$(printf '%s\n' "$stage" | sed -n 's/^USER //p' | cut -d: -f1)"
workdir="$(printf '%s\n' "$stage" | sed -n 's/^WORKDIR //p')"
envs="$(printf '%s\n' "$stage" | sed -n 's/^ENV //p')"
entrypoint="$(printf '%s\n' "$stage" | sed -n 's/^ENTRYPOINT \["\(.*\)"\]/\1/p')"
cmd="$(printf '%s\n' "$stage" | sed -n 's/^CMD \["\(.*\)"\]/\1/p')"
echo "image_runtime: RUN $run_line" >&2
echo "image_runtime: USER $user, WORKDIR $workdir, ENV $envs, ENTRYPOINT $entrypoint, CMD $cmd" >&2

command -v debootstrap > /dev/null || apt-get install -y -qq debootstrap > /dev/null
if [ ! -x "$root/usr/bin/apt-get" ]; then
  rm -rf "$root"
  debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian > "$root.debootstrap.log" 2>&1 ||
    { tail -n 20 "$root.debootstrap.log" >&2; exit 1; }
fi
cp /etc/resolv.conf "$root/etc/resolv.conf"
if [ ! -f "$root/.run-line-done" ] || [ "$(cat "$root/.run-line-done")" != "$run_line" ]; then
  chroot "$root" /bin/sh -c "$run_line"
  printf '%s' "$run_line" > "$root/.run-line-done"
fi

cargo build --release --locked --bin gexlake -q
install -m 0755 "$CARGO_TARGET_DIR/release/gexlake" "$root/usr/local/bin/gexlake"

missing="$(chroot "$root" /bin/sh -c 'ldd /usr/local/bin/gexlake' | grep 'not found' || true)"
[ -z "$missing" ] || { echo "image_runtime: libraries missing from the image: $missing" >&2; exit 1; }
[ -s "$root/etc/ssl/certs/ca-certificates.crt" ] ||
  { echo "image_runtime: no CA bundle at /etc/ssl/certs/ca-certificates.crt" >&2; exit 1; }

home="$root$workdir"
rm -rf "$home/in" "$home/lake"
install -d -o "$user" -g "$user" "$home/in"
install -m 0644 -o "$user" -g "$user" data/*.zip "$home/in/"
mounted=""
if mount -t proc proc "$root/proc" 2> /dev/null; then mounted=1; fi
trap '[ -z "$mounted" ] || umount "$root/proc"' EXIT
set +e
# shellcheck disable=SC2086 # $envs is the Dockerfile's KEY=VALUE list
chroot --userspec="$user:$user" "$root" /usr/bin/env -i HOME="$workdir" PATH=/usr/local/bin:/usr/bin:/bin $envs \
  GEXLAKE_SOURCE="$workdir/in" /bin/sh -c "cd $workdir && exec $entrypoint $cmd" 2> "$root.stderr"
code=$?
set -e
[ "$code" -eq 0 ] || { tail -n 20 "$root.stderr" >&2; echo "image_runtime: exit $code" >&2; exit 1; }
owner="$(stat -c %u "$home/lake/_ingest")"
[ "$owner" = "$user" ] || { echo "image_runtime: lake owned by uid $owner, not $user" >&2; exit 1; }
python3 - "$root.stderr" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert lines and all(l.get("severity") in {"DEBUG", "INFO", "WARNING", "ERROR"} for l in lines), lines
summary = next(l for l in lines if l.get("message") == "run summary")
assert summary["converted_files"] >= 1 and summary["failed_files"] == 0, summary
print(f"image_runtime: ok: {len(lines)} JSON log lines; run summary: {summary['converted_files']} files, "
      f"{summary['ticker_rows']} ticker rows, {summary['total_s']} s")
PY
