/**
 * Help texts of the `vmm-metrics` command.
 */
import { DEFAULT_SERVE_HOST, DEFAULT_SERVE_PORT } from '../export/http/server.js';

export const MAIN_USAGE = `Usage: vmm-metrics <command> [options] [PATH]

Reads Firecracker metrics lines (one JSON object per flush, from this library or a real
Firecracker) out of files and named pipes.

Commands:
  validate PATH…  check every line against the declared metrics groups, or against a
                  Firecracker release's lines (--firecracker VERSION, or auto)
  tail PATH       follow the file or pipe and show the counters that move, live
  serve           follow many VMs' files and pipes and serve their totals to Prometheus
  help [COMMAND]  show this help, or a command's

Options:
  -h, --help      show help (vmm-metrics <command> --help for a command's)

PATH may be a regular file, a named pipe, or - for standard input.
`;

const LINE_OPTIONS = `  --max-line-bytes N a line longer than N bytes is reported as too long and
                     skipped (default 33554432, 32 MiB: the writer's line for 10,000
                     devices of each kind, every value at its maximum, is 27.8 MB)
`;

const SCHEMA_OPTIONS = `  --rtc              require the optional "rtc" entry (aarch64 VMMs); without it,
                     rtc is accepted when present
  --require KEY      require the optional entry KEY (repeatable)
  --strict           groups and fields the schema does not know are errors
                     (default: warnings, and the lines still pass)
  --document MODULE  take the schema from the document MODULE exports (its default
                     export, or an export named "document": an EntryDocument, a
                     class of one, or a Metrics writer) instead of Firecracker's
`;

const SERVE_SCHEMA_OPTIONS = `  --rtc              require the optional "rtc" entry (aarch64 VMMs) of every release
  --require KEY      require the optional entry KEY (repeatable)
  --strict           refuse lines that are no Firecracker release's exactly (with
                     --document: groups and fields the document does not know)
  --document MODULE  serve the document MODULE exports (its default export, or an
                     export named "document") instead of every Firecracker release
`;

export const VALIDATE_USAGE = `Usage: vmm-metrics validate [options] PATH...

Checks every line of each PATH against the schema derived from the declared metrics
groups (by default the global FirecrackerMetrics document, which is Firecracker main's),
or against the lines of a Firecracker release (--firecracker): the line is one JSON object;
utc_timestamp_ms comes first and is a plausible time (integer ms, after 2000-01-01, at
most a day ahead); "id" is a string and "properties" an object of strings; every
required group, device aggregate and field is present; every value is an integer from
0 to 2^64-1 (read exactly; one of more than 20 digits is out of range without being
converted); keys are in the writer's order; no key repeats; the last line ends with a
newline. A named pipe is read until its writer closes it.

Each problem is printed on stderr as
  PATH:LINE: path.to.field: what is wrong
(warnings as "PATH:LINE: path: warning: ..."), and a summary per PATH on stdout. A line
lists at most 100 problems, then one "... and K more problems on this line".

Options:
  --firecracker VERSION
                     check strictly against the lines Firecracker VERSION writes (1.10,
                     v1.10.1, main; every minor release from 1.0 is known): its groups
                     and fields, their order, numbers and latency objects, nothing else
  --firecracker auto for each PATH, find the releases whose lines all of its lines are
                     (releases that write the same lines are named together: "fits
                     v1.10–v1.12"), or else the nearest, and check it against them (a
                     pipe or standard input is held in memory for that, up to 64 MiB)
${SCHEMA_OPTIONS}${LINE_OPTIONS}  -h, --help         show this help

Exit status: 0 when every line passes (warnings allowed), 1 when a line has an error,
2 on a usage error or when a PATH cannot be read.
`;

export const TAIL_USAGE = `Usage: vmm-metrics tail [options] PATH

Follows a metrics file or named pipe and shows, for each new line, per group, the
counters that moved: their delta (counters are written as deltas since the previous
flush) and their rate per second (delta divided by the seconds between this line's
timestamp and the previous line's), and the stores whose value changed. On a terminal
the view is redrawn for each line; otherwise blocks are appended.

A regular file is followed as it grows; when it is truncated or replaced (rotation),
reading starts over at the beginning of the new content. A named pipe is read as lines
arrive; when its writer closes it, tail waits for the next writer. By default tail
shows the last complete line already in a file, then follows; --from-start shows every
line already there. Ctrl-C stops (exit status 0).

Options:
  --json             print each record as one compact JSON line, exact digits, instead
                     of the view (problems go to stderr as PATH:LINE: ...)
  --from-start       for a file, show every line already in it first
  --poll-ms N        how often a file is checked for growth (default 250)
${SCHEMA_OPTIONS}${LINE_OPTIONS}  -h, --help         show this help

Exit status: 0 when stopped by Ctrl-C (or at the end of standard input), 2 on a usage
error or when PATH cannot be read.
`;

export const SERVE_USAGE = `Usage: vmm-metrics serve [options] --metrics-path PATH... --metrics-dir DIR... --metrics-glob PATTERN...

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
--metrics-glob that found it matched, else its file's name without the extension. A counter's total never goes down while the server runs: a writer that
restarts (a new VMM process), a pipe reopened, a file truncated or rotated all continue
it. An invalid or torn line is counted (vmm_metrics_serve_invalid_lines_total) and
skipped; a path that cannot be opened is retried. Stores show their last value.

Options:
  --metrics-path PATH  a file or named pipe to follow, from its first line (repeatable;
                       it need not exist yet)
  --metrics-dir DIR    follow every *.json file and named pipe in DIR, as they come and
                       go; a VM whose file is removed is no longer served (repeatable)
  --metrics-glob PATTERN
                       follow every named pipe and file PATTERN matches, as they come and
                       go (repeatable). * and ? match within a folder name; for the jailer:
                       '/srv/jailer/firecracker/*/root/metrics.fifo' (quoted), vm="<id>".
                       Past the first wildcard, symbolic links are not followed
  --port N             TCP port (default ${DEFAULT_SERVE_PORT}; 0 picks a free one)
  --host H             address to listen on (default ${DEFAULT_SERVE_HOST})
  --prefix P           first token of the family names (default firecracker)
  --poll-ms N          how often a followed file is checked for growth (default 1000)
${SERVE_SCHEMA_OPTIONS}${LINE_OPTIONS}  -h, --help           show this help

Exit status: 0 when stopped by Ctrl-C or SIGTERM, 2 on a usage error or when the
address cannot be had.
`;
