/**
 * Where metrics lines go: a path (a regular file, appended to and created when missing, or a
 * named pipe), a file descriptor, or a `Writable` (or any object with a `write` method).
 */
import { FdSink } from './fd-sink.js';
import type { LineSink } from './sink.js';
import { isLineWritable, StreamSink, type LineWritable } from './stream-sink.js';

export type MetricsDestination = string | number | LineWritable;

/** The sink for `destination`; `onStreamError` hears a stream's errors that no line reports. */
export function openDestination(destination: MetricsDestination, onStreamError: (error: unknown) => void): LineSink {
  if (typeof destination === 'string') return FdSink.open(destination);
  if (typeof destination === 'number') return FdSink.of(destination);
  if (isLineWritable(destination)) return new StreamSink(destination, onStreamError);
  throw new TypeError('Metrics destination must be a path, a file descriptor or a Writable stream');
}
