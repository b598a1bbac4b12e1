/**
 * The guest's /init and the lines it prints on the serial console, with their parser.
 *
 * /init is a busybox shell script. It mounts /proc, /sys and /dev, loads the virtio modules in
 * the order listed in /etc/vmm-guest/modules, reports what loaded and which devices the kernel
 * bound, then reports the guest's memory once per interval, forever:
 *
 * ```
 * VMM-GUEST-INIT kernel=6.1.0-50-686 uptime_s=9.61
 * VMM-GUEST-MODULES virtio=ok virtio_ring=ok virtio_pci_legacy_dev=ok virtio_pci_modern_dev=ok virtio_pci=ok virtio_balloon=ok
 * VMM-GUEST-PCI 0000:00:00.0=0x8086:0x1237:- 0000:00:05.0=0x1af4:0x1045:virtio-pci …
 * VMM-GUEST-VIRTIO virtio0=0x0005:virtio_balloon
 * VMM-GUEST seq=0 uptime_s=9.87 mem_total_kb=120344 mem_free_kb=101220 mem_available_kb=99800 balloon_inflate=0 balloon_deflate=0 balloon_migrate=0 nr_free_pages=25305
 * ```
 *
 * Design notes:
 * - PID 1 must never exit (the kernel panics), so nothing here uses `set -e` or an expansion that
 *   can abort the shell: a failure prints a `VMM-GUEST-ERROR` line and the script goes on.
 * - The lines go to the console the kernel gave /init, which is ttyS0 with the manifest's
 *   command line (`console=ttyS0`); kernel messages share it, hence a tag a reader can find and
 *   lines that carry everything they mean (no state across lines).
 * - The rhythm: a `sleep` started before each report and waited for after it, so a line comes
 *   every interval however long the report took (one second, or `vmm_interval_s=` on the kernel
 *   command line, which the kernel hands to /init as an environment variable).
 * - The memory line reads /proc/meminfo's MemTotal, MemFree and MemAvailable (kB) and every
 *   /proc/vmstat counter named balloon_* (balloon_inflate, balloon_deflate and, with balloon
 *   compaction, balloon_migrate: pages, counted by the kernel's balloon core) plus nr_free_pages.
 *   Free page reporting and hinting have no counter of their own in /proc/vmstat.
 * - Shell builtins only in the loop (read, case, echo), so a report costs one fork (the sleep).
 */

/** The report of one interval, in POSIX shell (the host's sh runs it in the tests). */
export const REPORT_FUNCTION = `report() {
  up=; total=; free=; avail=; counters=
  read -r up _ < /proc/uptime
  while read -r key value _; do
    case $key in
      MemTotal:) total=$value ;;
      MemFree:) free=$value ;;
      MemAvailable:) avail=$value ;;
    esac
  done < /proc/meminfo
  while read -r key value; do
    case $key in
      balloon_*|nr_free_pages) counters="$counters $key=$value" ;;
    esac
  done < /proc/vmstat
  echo "VMM-GUEST seq=$1 uptime_s=$up mem_total_kb=$total mem_free_kb=$free mem_available_kb=$avail$counters"
}`;

/** Where /init finds the modules (flat, one `<name>.ko` each) and their load order. */
export const MODULES_DIR = 'lib/modules';
export const MODULE_ORDER_FILE = 'etc/vmm-guest/modules';

/** The /init script. */
export const INIT_SCRIPT = `#!/bin/sh
# /init of the vmm-metrics guest fixtures (npm run guest:fetch). PID 1: it must never exit, so
# failures are reported on the console and the script goes on.
/bin/busybox --install -s
export PATH=/sbin:/bin:/usr/sbin:/usr/bin

fail() { echo "VMM-GUEST-ERROR $*"; }

mount -t proc proc /proc || fail "mount /proc"
mount -t sysfs sysfs /sys || fail "mount /sys"
mount -t devtmpfs devtmpfs /dev || fail "mount /dev"

up=
read -r up _ < /proc/uptime
echo "VMM-GUEST-INIT kernel=$(uname -r) uptime_s=$up"

results=
while read -r name; do
  [ -n "$name" ] || continue
  if out=$(insmod "/${MODULES_DIR}/$name.ko" 2>&1); then
    results="$results $name=ok"
  else
    status=$?
    results="$results $name=fail:$status"
    fail "insmod $name: $out"
  fi
done < /${MODULE_ORDER_FILE}
echo "VMM-GUEST-MODULES\${results:- none}"

functions=
for fn in /sys/bus/pci/devices/*; do
  [ -e "$fn/vendor" ] || continue
  vendor=; device=; driver=-
  read -r vendor < "$fn/vendor"
  read -r device < "$fn/device"
  if [ -e "$fn/driver" ]; then link=$(readlink "$fn/driver"); driver=\${link##*/}; fi
  functions="$functions \${fn##*/}=$vendor:$device:$driver"
done
echo "VMM-GUEST-PCI\${functions:- none}"

devices=
for dev in /sys/bus/virtio/devices/*; do
  [ -e "$dev/device" ] || continue
  id=; driver=-
  read -r id < "$dev/device"
  if [ -e "$dev/driver" ]; then link=$(readlink "$dev/driver"); driver=\${link##*/}; fi
  devices="$devices \${dev##*/}=$id:$driver"
done
echo "VMM-GUEST-VIRTIO\${devices:- none}"

${REPORT_FUNCTION}

interval=\${vmm_interval_s:-1}
case $interval in
  ''|.|*[!0-9.]*|*.*.*) fail "vmm_interval_s=$interval is not a number of seconds; using 1"; interval=1 ;;
esac
seq=0
while :; do
  sleep "$interval" &
  sleeper=$!
  report "$seq"
  seq=$((seq + 1))
  wait "$sleeper"
done
`;
