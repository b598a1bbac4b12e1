/**
 * A value a caller got wrong, named for an error message ("…: expected a number or a bigint, got
 * the string \"3\""): the one place that decides how a number, a string or an object reads there.
 * Messages that tests pin depend on it, so a form changes only with them. (The reader names JSON
 * values, which are not `unknown`, its own way.)
 */

/**
 * - `value`: the value as written — `-1`, `1.5`, `NaN`, `-0`, `5n`, `true`, `null`,
 *   `undefined`; a string as `the string "…"`; an object as `an object`, or `an object named "…"`
 *   when it has a string `name`; an array as `an array`; a function or a symbol by its type. For
 *   a value of the right type and the wrong value.
 * - `typed`: the same, a number, bigint or boolean after its type (`number 5`, `boolean true`):
 *   for a value of the wrong type.
 * - `literal`: the same, a string as its JSON literal (`"64"`): for a value from a JSON
 *   configuration (Firecracker's API's fields).
 */
export type DescriptionForm = 'value' | 'typed' | 'literal';

export function describe(value: unknown, form: DescriptionForm = 'value'): string {
  switch (typeof value) {
    case 'number': {
      const written = Object.is(value, -0) ? '-0' : String(value);
      return form === 'typed' ? `number ${written}` : written;
    }
    case 'bigint':
      return form === 'typed' ? `bigint ${value}` : `${value}n`;
    case 'boolean':
      return form === 'typed' ? `boolean ${value}` : String(value);
    case 'string':
      return form === 'literal' ? JSON.stringify(value) : `the string ${JSON.stringify(value)}`;
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) return 'an array';
      const name = (value as { name?: unknown }).name;
      return typeof name === 'string' ? `an object named ${JSON.stringify(name)}` : 'an object';
    }
    default:
      return typeof value;
  }
}
