/**
 * The lines the test guest's `/init` prints on its serial console (`npm run guest:fetch` builds
 * it; scripts/guest-fixtures/init.ts holds the script): what `npm start -- --guest linux` and the
 * tests read of the guest's own view of its memory and of the devices it bound.
 */

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
