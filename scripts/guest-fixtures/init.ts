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

/** `VMM-GUEST-INIT`: /init started. */
export interface GuestInitLine {
  readonly kind: 'init';
  readonly kernel: string;
  /** Seconds since the kernel started, from /proc/uptime. */
  readonly uptimeS: number;
}

/** `VMM-GUEST-MODULES`: each module's insmod result, in load order. */
export interface GuestModulesLine {
  readonly kind: 'modules';
  /** 'ok', or 'fail:<insmod status>'. */
  readonly results: ReadonlyMap<string, string>;
  readonly allLoaded: boolean;
}

/** `VMM-GUEST-PCI`: every PCI function the kernel found. */
export interface GuestPciLine {
  readonly kind: 'pci';
  readonly functions: readonly { readonly address: string; readonly vendor: number; readonly device: number; readonly driver?: string }[];
}

/** `VMM-GUEST-VIRTIO`: every virtio device and the driver bound to it. */
export interface GuestVirtioLine {
  readonly kind: 'virtio';
  /** `deviceId` is the virtio device type: 5 for a balloon. */
  readonly devices: readonly { readonly name: string; readonly deviceId: number; readonly driver?: string }[];
}

/** `VMM-GUEST`: the guest's memory, once per interval. */
export interface GuestMemoryLine {
  readonly kind: 'memory';
  readonly seq: number;
  readonly uptimeS: number;
  readonly memTotalKb: number;
  readonly memFreeKb: number;
  readonly memAvailableKb: number;
  /** Pages the balloon driver took from the guest (/proc/vmstat balloon_inflate), since boot. */
  readonly balloonInflate: number;
  /** Pages the balloon driver gave back (/proc/vmstat balloon_deflate), since boot. */
  readonly balloonDeflate: number;
  /** Every field of the line by its name, the above included (balloon_migrate, nr_free_pages, …). */
  readonly fields: ReadonlyMap<string, number>;
}

/** `VMM-GUEST-ERROR`: something in /init failed; the text says what. */
export interface GuestErrorLine {
  readonly kind: 'error';
  readonly message: string;
}

export type GuestLine = GuestInitLine | GuestModulesLine | GuestPciLine | GuestVirtioLine | GuestMemoryLine | GuestErrorLine;

/** The line's `key=value` tokens, or undefined when a token is not one (a line cut by a kernel message). */
function pairs(text: string): Map<string, string> | undefined {
  const map = new Map<string, string>();
  for (const token of text.trim().split(/\s+/)) {
    const equals = token.indexOf('=');
    if (equals <= 0) return undefined;
    map.set(token.slice(0, equals), token.slice(equals + 1));
  }
  return map;
}

function integer(text: string | undefined): number | undefined {
  return text !== undefined && /^\d+$/.test(text) ? Number(text) : undefined;
}

function decimal(text: string | undefined): number | undefined {
  return text !== undefined && /^\d+(\.\d+)?$/.test(text) ? Number(text) : undefined;
}

function hexId(text: string | undefined): number | undefined {
  return text !== undefined && /^0x[0-9a-f]+$/i.test(text) ? Number.parseInt(text.slice(2), 16) : undefined;
}

/**
 * One line of the guest's console (a trailing '\r' and text before the tag are ignored, as kernel
 * messages share the console), or undefined when it is not one of /init's lines or is damaged.
 */
export function parseGuestLine(line: string): GuestLine | undefined {
  const match = /VMM-GUEST(-[A-Z]+)? (.*?)\r?$/.exec(line);
  if (match === null) return undefined;
  const tag = match[1] ?? '';
  const rest = match[2] ?? '';
  switch (tag) {
    case '': {
      const map = pairs(rest);
      if (map === undefined) return undefined;
      const fields = new Map<string, number>();
      for (const [key, value] of map) {
        const number = key === 'uptime_s' ? decimal(value) : integer(value);
        if (number === undefined) return undefined;
        fields.set(key, number);
      }
      const seq = fields.get('seq');
      const uptimeS = fields.get('uptime_s');
      const memTotalKb = fields.get('mem_total_kb');
      const memFreeKb = fields.get('mem_free_kb');
      const memAvailableKb = fields.get('mem_available_kb');
      if (seq === undefined || uptimeS === undefined || memTotalKb === undefined || memFreeKb === undefined || memAvailableKb === undefined) {
        return undefined;
      }
      return {
        kind: 'memory',
        seq,
        uptimeS,
        memTotalKb,
        memFreeKb,
        memAvailableKb,
        balloonInflate: fields.get('balloon_inflate') ?? 0,
        balloonDeflate: fields.get('balloon_deflate') ?? 0,
        fields,
      };
    }
    case '-INIT': {
      const map = pairs(rest);
      const kernel = map?.get('kernel');
      const uptimeS = decimal(map?.get('uptime_s'));
      return kernel === undefined || kernel === '' || uptimeS === undefined ? undefined : { kind: 'init', kernel, uptimeS };
    }
    case '-MODULES': {
      const results = rest.trim() === 'none' ? new Map<string, string>() : pairs(rest);
      if (results === undefined) return undefined;
      return { kind: 'modules', results, allLoaded: results.size > 0 && [...results.values()].every((result) => result === 'ok') };
    }
    case '-PCI': {
      if (rest.trim() === 'none') return { kind: 'pci', functions: [] };
      const map = pairs(rest);
      if (map === undefined) return undefined;
      const functions: GuestPciLine['functions'][number][] = [];
      for (const [address, value] of map) {
        const [vendorText, deviceText, driver] = value.split(':');
        const vendor = hexId(vendorText);
        const device = hexId(deviceText);
        if (vendor === undefined || device === undefined || driver === undefined) return undefined;
        functions.push({ address, vendor, device, ...(driver === '-' ? {} : { driver }) });
      }
      return { kind: 'pci', functions };
    }
    case '-VIRTIO': {
      if (rest.trim() === 'none') return { kind: 'virtio', devices: [] };
      const map = pairs(rest);
      if (map === undefined) return undefined;
      const devices: GuestVirtioLine['devices'][number][] = [];
      for (const [name, value] of map) {
        const colon = value.indexOf(':');
        const deviceId = hexId(value.slice(0, colon));
        const driver = value.slice(colon + 1);
        if (colon < 0 || deviceId === undefined || driver === '') return undefined;
        devices.push({ name, deviceId, ...(driver === '-' ? {} : { driver }) });
      }
      return { kind: 'virtio', devices };
    }
    case '-ERROR':
      return { kind: 'error', message: rest };
    default:
      return undefined;
  }
}
