/**
 * Help texts of the `vmm-metrics` command.
 */
import { DEFAULT_SERVE_HOST, DEFAULT_SERVE_PORT } from '../export/http/server.js';

export const MAIN_USAGE = `Usage: vmm-metrics <command> [options] [PATH...]

Reads Firecracker metrics lines (one JSON object per flush, from this library or a real
Firecracker) out of files and named pipes.

Commands:
  validate PATH...  check every line against the schema of the declared metrics
                    groups, or against a Firecracker release's lines
                    (--firecracker VERSION, or auto)
  tail PATH...      follow files or pipes: totals since each began, the last line
                    that moved something, live
  serve             follow many VMs' files and pipes and serve their totals to
                    Prometheus
  help [COMMAND]    show this help, or a command's

Options:
  -h, --help        show help (vmm-metrics <command> --help for a command's)
  -V, --version     print the version

PATH may be a regular file, a named pipe, or - for standard input.
`;

/** One option of a help text: how it is written, and what it does (lines joined by \n). */
type OptionRow = readonly [option: string, description: string];

/**
 * The rows as a table, each description starting in one column two spaces past the longest
 * option, its further lines indented to the same column.
 */
function optionTable(rows: readonly OptionRow[]): string {
  const column = 2 + Math.max(...rows.map(([option]) => option.length)) + 2;
  return rows
    .map(([option, description]) => `  ${option.padEnd(column - 2)}${description.split('\n').join(`\n${' '.repeat(column)}`)}\n`)
    .join('');
}

const LINE_OPTIONS: readonly OptionRow[] = [
  ['--max-line-bytes N', `a line longer than N bytes is reported as too long and
skipped (default 33554432, 32 MiB: the writer's line for 10,000
devices of each kind, every value at its maximum, is 27.8 MB)`],
];

const SCHEMA_OPTIONS: readonly OptionRow[] = [
  ['--rtc', `require the optional "rtc" entry (aarch64 VMMs); without it,
rtc is accepted when present`],
  ['--require KEY', 'require the optional entry KEY (repeatable)'],
  ['--strict', `groups and fields the schema does not know are errors
(default: warnings, and the lines still pass)`],
  ['--document MODULE', `take the schema from the document MODULE exports (its default
export, or an export named "document": an EntryDocument, a
class of one, or a Metrics writer) instead of Firecracker's`],
];

/** serve reads every release's lines: its schema options say so. */
const SERVE_SCHEMA_OPTIONS: readonly OptionRow[] = [
  ['--rtc', 'require the optional "rtc" entry (aarch64 VMMs) of every release'],
  ['--require KEY', 'require the optional entry KEY (repeatable)'],
  ['--strict', `refuse lines that are no Firecracker release's exactly (with
--document: groups and fields the document does not know)`],
  ['--document MODULE', `serve the document MODULE exports (its default export, or an
export named "document") instead of every Firecracker release`],
];

const HELP_OPTION: OptionRow = ['-h, --help', 'show this help'];

export const VALIDATE_USAGE = `Usage: vmm-metrics validate [options] PATH...

Checks every line of each PATH against the schema derived from the declared metrics
groups (by default the global FirecrackerMetrics document, which is Firecracker main's),
or against the lines of a Firecracker release (--firecracker): the line is one JSON object;
utc_timestamp_ms comes first and is a plausible time (integer ms, after 2000-01-01, at
most a day ahead); "id" is a string and "properties" an object of strings; every
required group, device aggregate and field is present; every value is an integer from
0 to 2^64-1 (read exactly; one of more than 20 digits is out of range without being
converted); keys are in the writer's order; no key repeats; the last line ends with a
newline. A named pipe is read until its writer closes it. The paths are read one after
the other; one that cannot be read does not stop the others.

Each problem is printed on stderr as
  PATH:LINE: path.to.field: what is wrong
(warnings as "PATH:LINE: path: warning: ..."), and a summary a PATH on stdout. A line
lists at most 100 problems, then one "... and K more problems on this line".

Options:
${optionTable([
  ['--firecracker VERSION', `check strictly against the lines Firecracker VERSION writes (1.10,
v1.10.1, main; every minor release from 1.0 is known): its groups
and fields, their order, numbers and latency objects, nothing else`],
  ['--firecracker auto', `for each PATH, find the releases whose lines all of its lines are
(releases that write the same lines are named together: "fits
v1.10–v1.12"), or else the nearest, and check it against them (a
pipe or standard input is held in memory for that, up to 64 MiB)`],
  ...SCHEMA_OPTIONS,
  ...LINE_OPTIONS,
  HELP_OPTION,
])}
Exit status: 0 when every line passes (warnings allowed), 1 when a line has an error,
2 on a usage error or when a PATH cannot be read (over 1 when both).
`;

export const TAIL_USAGE = `Usage: vmm-metrics tail [options] PATH...

Follows metrics files and named pipes and shows, for each, every counter's total since
the file began (VALUE; a store's VALUE is its last value) and the last line that moved
something: its deltas (counters are written as deltas since the previous flush) and
rates per second (the delta divided by the seconds since the previous line), in units a
person reads (bytes as KiB, MiB, GiB; MiB/s). A file is read from its first line; the
view is drawn once the lines already there are read, then for each new line. A pipe or
standard input is read from when tail starts. On a terminal the view is redrawn (every
PATH's, one under the other); otherwise each change is appended.

--from-start tells a file's story first: one line of text per metrics line, with its
time since the first line and what moved (a run of lines that moved nothing in one
line), then the view; new lines go on as story lines. It reads at one's own pace and
pipes into grep or less, where a replay paced as the file was written would take as
long as the session did.

A regular file is followed as it grows; when it is truncated or replaced (rotation),
reading starts over at the beginning of the new content. A named pipe is read as lines
arrive; when its writer closes it, tail waits for the next writer. Ctrl-C stops (exit
status 0).

Options:
${optionTable([
  ['--json', `print each record as one compact JSON line, exact digits, instead
of the view (problems go to stderr as PATH:LINE: ...); one PATH:
a file's last line, then what follows (every line with --from-start)`],
  ['--from-start', "tell each file's story, line by line, before the view"],
  ['--poll-ms N', 'how often a file is checked for growth (default 250)'],
  ...SCHEMA_OPTIONS,
  ...LINE_OPTIONS,
  HELP_OPTION,
])}
Exit status: 0 when stopped by Ctrl-C (or at the end of standard input), 2 on a usage
error or when a PATH cannot be read.
`;

export const SERVE_USAGE = `Usage: vmm-metrics serve [options] (--metrics-path PATH | --metrics-dir DIR | --metrics-glob PATTERN)...

At least one --metrics-path, --metrics-dir or --metrics-glob, each as often as needed.

Follows metrics files and named pipes (written by Firecracker or by this library), adds
up the counters' deltas into totals, and serves them over HTTP for Prometheus:
  /metrics   every VM's families (firecracker_<group>_<field>, labelled vm and, for
             devices, device), then the server's own (vmm_metrics_serve_*)
  /healthz   200 while the server runs
Lines of every Firecracker release since v1.0 are taken, each read as the release it is
a line of (vmm_metrics_serve_source_info says which: release="1.10-1.12"); a field has
one family whichever release wrote it, and a VM whose release does not write a field has
no sample of it. A group or field no release writes (a newer Firecracker) is served as a
counter and counted in vmm_metrics_serve_unknown_fields_total. A line is refused only when
it is not JSON, a value has the wrong type, or it is too long.
Each VM is labelled vm: the "id" of its last line, else what the first * of the
--metrics-glob that found it matched, else its file's name without the extension. A
counter's total never goes down while the server runs: a writer that restarts (a new VMM
process), a pipe reopened, a file truncated or rotated all continue it. An invalid or torn line is counted (vmm_metrics_serve_invalid_lines_total) and
skipped; a path that cannot be opened is retried. Stores show their last value.

Options:
${optionTable([
  ['--metrics-path PATH', `a file or named pipe to follow, from its first line (repeatable;
it need not exist yet)`],
  ['--metrics-dir DIR', `follow every *.json file and named pipe in DIR, as they come and
go; a VM whose file is removed is no longer served (repeatable)`],
  ['--metrics-glob PATTERN', `follow every named pipe and file PATTERN matches, as they come and
go (repeatable). * and ? match within a folder name; for the jailer:
'/srv/jailer/firecracker/*/root/metrics.fifo' (quoted), vm="<id>".
Past the first wildcard, symbolic links are not followed`],
  ['--port N', `TCP port (default ${DEFAULT_SERVE_PORT}; 0 picks a free one)`],
  ['--host H', `address to listen on (default ${DEFAULT_SERVE_HOST})`],
  ['--prefix P', 'first token of the family names (default firecracker)'],
  ['--poll-ms N', 'how often a followed file is checked for growth (default 1000)'],
  ...SERVE_SCHEMA_OPTIONS,
  ...LINE_OPTIONS,
  HELP_OPTION,
])}
Exit status: 0 when stopped by Ctrl-C or SIGTERM, 2 on a usage error or when the
address cannot be had.
`;
