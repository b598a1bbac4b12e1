/**
 * `npm start --serve` (without `--`): npm takes `--serve` for one of its own options and runs the
 * session without it — a whole session without a server — and `npm start --serve --duration-s 3`
 * leaves the session a stray `3`. npm passes options to a script only after `--`; those before it
 * it keeps, and hands to the script as `npm_config_<name>` in the environment (`--duration-s`
 * becomes `npm_config_duration_s`, `true` when npm took it for a flag and left its value behind).
 * Seen there, under `npm start` (npm_lifecycle_event), a session option was eaten: say what to
 * type instead.
 */

/** A session option as parseArgs declares it. */
export interface SessionOption {
  readonly type: 'string' | 'boolean';
}

/** The message that says what to type, or undefined when npm took none of `options`. */
export function optionsNpmTook(env: NodeJS.ProcessEnv, argv: readonly string[], options: Readonly<Record<string, SessionOption>>): string | undefined {
  const script = env.npm_lifecycle_event;
  if (script === undefined || !['start', 'restart'].includes(script)) return undefined;
  const flags: string[] = [];
  /** Options npm took for flags: their values are among the arguments it left. */
  const valueless: string[] = [];
  for (const [option, { type }] of Object.entries(options)) {
    const value = env[`npm_config_${option.replaceAll('-', '_')}`];
    // One given after `--` reached us: an npm_config_ of the same name comes from elsewhere (an .npmrc).
    if (value === undefined || argv.some((arg) => arg === `--${option}` || arg.startsWith(`--${option}=`))) continue;
    if (type === 'boolean') flags.push(`--${option}`);
    else if (value === 'true' || value === '') valueless.push(`--${option}`);
    else flags.push(`--${option} ${value}`);
  }
  if (flags.length === 0 && valueless.length === 0) return undefined;
  // npm puts what it left before what came after `--`.
  const leftCount = argv.findIndex((arg) => arg.startsWith('-'));
  const left = argv.slice(0, leftCount === -1 ? argv.length : leftCount);
  const rest = argv.slice(left.length);
  const names = [...flags, ...valueless].map((flag) => flag.split(' ')[0] ?? flag);
  const took = `npm took ${names.join(' and ')} for its own option${names.length === 1 ? '' : 's'}: npm passes options to a script only after --. Type:\n`;
  if (valueless.length === 1 && left.length === 1) return `${took}  npm ${script} -- ${[...flags, `${valueless[0] ?? ''} ${left[0] ?? ''}`, ...rest].join(' ')}`;
  if (valueless.length === 0) return `${took}  npm ${script} -- ${[...flags, ...left, ...rest].join(' ')}`;
  // Which value was whose, the environment does not say.
  return `${took}  npm ${script} -- ${[...flags, ...valueless.map((flag) => `${flag} VALUE`), ...rest].join(' ')}\n(npm left ${left.length === 0 ? 'no value' : left.join(' ')} for ${valueless.join(' and ')}: give each its own)`;
}
