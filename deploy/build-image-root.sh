#!/bin/sh
# build-image-root.sh -- the container image's recipe: configure, build and install sonos-bridge
# into a root tree (DESTDIR), then check that the installed tree runs. deploy/Dockerfile runs
# this script and nothing else to build; scripts/test runs it too, so the recipe is tested on
# machines without a Docker engine.
#
# usage: deploy/build-image-root.sh SRC_DIR BUILD_DIR ROOT_DIR
#
# The check (skipped with SB_IMAGE_CHECK=0) proves, on the installed tree only:
#   - usr/bin/sonos-bridge --version answers;
#   - the four workers are in usr/libexec/sonos-bridge;
#   - every library an installed executable links directly comes from a package listed in
#     deploy/runtime-packages (what the runtime image installs), when dpkg is there;
#   - the installed supervisor starts the installed workers (their /proc/<pid>/exe is under
#     ROOT_DIR) and all four report ready; `healthcheck` answers (healthy when a mosquitto is
#     on PATH to run against, else "not connected to the broker"); SIGTERM stops it with 0.
set -eu

if [ $# -ne 3 ]; then
	echo "usage: $0 SRC_DIR BUILD_DIR ROOT_DIR" >&2
	exit 2
fi
src=$(cd "$1" && pwd)
mkdir -p "$2"
build=$(cd "$2" && pwd)
root=$3
case $root in
/*) ;;
*) root=$PWD/$root ;;
esac
workers="mqttd discoveryd playerd httpd"
jobs=${SB_IMAGE_JOBS:-$(nproc 2>/dev/null || echo 2)}

say() { echo "build-image-root: $*"; }
fail() {
	echo "build-image-root: FAILED: $*" >&2
	exit 1
}

# ---- build and install (the Dockerfile's RUN step) ---------------------------------------
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr
cmake --build "$build" -j"$jobs"
rm -rf "$root"
DESTDIR=$root cmake --install "$build" --strip
install -D -m 0644 "$src/deploy/sonos-bridge.conf.example" \
	"$root/usr/share/doc/sonos-bridge/sonos-bridge.conf.example"
for doc in README.md docs/*.md; do
	install -D -m 0644 "$src/$doc" "$root/usr/share/doc/sonos-bridge/$(basename "$doc")"
done
say "installed into $root"

[ "${SB_IMAGE_CHECK:-1}" = 0 ] && exit 0

# ---- check the installed tree ---------------------------------------------------------------
bin=$root/usr/bin/sonos-bridge
libexec=$root/usr/libexec/sonos-bridge
version=$("$bin" --version) || fail "$bin --version"
case $version in
"sonos-bridge "*) say "$version" ;;
*) fail "$bin --version printed '$version'" ;;
esac
for w in $workers; do
	[ -x "$libexec/sonos-bridge-$w" ] || fail "worker $libexec/sonos-bridge-$w missing"
done

# Libraries: NEEDED entries resolved by ldd, each owned by a package of runtime-packages.
if command -v dpkg >/dev/null && command -v ldd >/dev/null; then
	allowed=$(grep -v '^[[:space:]]*#' "$src/deploy/runtime-packages" | tr -s ' \n' '\n')
	for exe in "$bin" "$libexec"/sonos-bridge-*; do
		ldd "$exe" >"$build/ldd.txt" || fail "ldd $exe"
		if grep -q "not found" "$build/ldd.txt"; then
			fail "$exe: $(grep 'not found' "$build/ldd.txt" | tr '\n' ' ')"
		fi
		needed=$(objdump -p "$exe" | awk '$1 == "NEEDED" { print $2 }')
		for lib in $needed; do
			path=$(awk -v l="$lib" '$1 == l && $2 == "=>" { print $3 }' "$build/ldd.txt")
			[ -n "$path" ] || fail "$exe: $lib not resolved by ldd"
			pkg=""
			for p in "$path" "$(readlink -f "$path")" "${path#/usr}" "/usr$path"; do
				pkg=$(dpkg -S "$p" 2>/dev/null | head -n 1 | cut -d: -f1) && [ -n "$pkg" ] &&
					break
			done
			[ -n "$pkg" ] || fail "$exe: no package owns $path ($lib)"
			echo "$allowed" | grep -qx "$pkg" ||
				fail "$exe needs $lib from package $pkg, not in deploy/runtime-packages"
		done
	done
	say "every linked library comes from deploy/runtime-packages"
else
	say "no dpkg/ldd: library check skipped"
fi

# A short run of the installed tree, on loopback, in a private directory.
tmp=$(mktemp -d /tmp/sbimgXXXXXX)
pid=""
broker_pid=""
cleanup() {
	[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
	[ -n "$broker_pid" ] && kill -TERM "$broker_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
free_port() {
	if command -v python3 >/dev/null; then
		python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
	else
		echo $((20000 + ($$ + $1) % 20000))
	fi
}
broker_port=$(free_port 1)
http_port=$(free_port 2)
mosquitto=$(command -v mosquitto || ls /usr/sbin/mosquitto 2>/dev/null || true)
if [ -n "$mosquitto" ]; then
	printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$broker_port" \
		>"$tmp/mosquitto.conf"
	[ "$(id -u)" = 0 ] && echo "user root" >>"$tmp/mosquitto.conf"
	"$mosquitto" -c "$tmp/mosquitto.conf" >"$tmp/mosquitto.log" 2>&1 &
	broker_pid=$!
fi
cat >"$tmp/sonos-bridge.conf" <<EOF
broker_host 127.0.0.1
broker_port $broker_port
http_bind 127.0.0.1
http_port $http_port
advertise_host 127.0.0.1
multicast_if 127.0.0.1
state_dir $tmp/state
runtime_dir $tmp/run
EOF
env -u NOTIFY_SOCKET "$bin" --config "$tmp/sonos-bridge.conf" >"$tmp/bridge.log" 2>&1 &
pid=$!

# All four ready, each run from the installed tree (not from a build or system directory).
ready=""
i=0
while [ $i -lt 200 ]; do
	if "$bin" status --json --config "$tmp/sonos-bridge.conf" >"$tmp/status.json" 2>/dev/null &&
		[ "$(grep -o '"state":"ready"' "$tmp/status.json" | wc -l)" -eq 4 ]; then
		ready=1
		break
	fi
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
	i=$((i + 1))
done
if [ -z "$ready" ]; then
	cat "$tmp/bridge.log" >&2
	fail "the installed bridge did not get its four workers ready within 20 s"
fi
real_root=$(readlink -f "$root")
for wpid in $(grep -o '"pid":[0-9]*' "$tmp/status.json" | cut -d: -f2); do
	[ "$wpid" = "$pid" ] && continue
	exe=$(readlink -f "/proc/$wpid/exe")
	case $exe in
	"$real_root"/usr/libexec/sonos-bridge/*) ;;
	*) fail "worker pid $wpid runs $exe, not one from $root" ;;
	esac
done
say "installed supervisor started the installed workers"

verdict=""
i=0
while [ $i -lt 100 ]; do
	if verdict=$("$bin" healthcheck --config "$tmp/sonos-bridge.conf"); then
		break
	fi
	[ -z "$broker_pid" ] && break
	sleep 0.1
	i=$((i + 1))
done
say "healthcheck: $verdict"
if [ -n "$broker_pid" ]; then
	case $verdict in healthy*) ;; *) fail "healthcheck with a broker: $verdict" ;; esac
else
	case $verdict in *"not connected to the broker"*) ;; *) fail "healthcheck: $verdict" ;; esac
fi

kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=""
[ "$status" -eq 0 ] || fail "the installed bridge exited with $status after SIGTERM"
say "the installed tree runs (stopped with status 0)"
