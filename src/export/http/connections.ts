/**
 * The connections of a metrics server: how many, and how each one's requests take turns.
 *
 * Node's HTTP server parses every request of a pipelined burst at once and hands each to the
 * handler at once, queueing the responses it cannot write yet: 2,000 `GET /metrics` in one 68 KB
 * write were 2,000 expositions held for a client that never read (3.9 GiB). Here a connection
 * answers one request at a time, the next only once the client has taken the whole response
 * before it, and a connection with more than a few requests waiting is closed.
 *
 * Design notes:
 * - A turn ends when the response closes: taken whole by the client (Node's 'finish' comes
 *   only once the kernel has accepted the last byte), or the connection gone. A turn that has not
 *   ended after `responseDeadlineMs` closes the connection: a reader that slow holds memory for
 *   nobody's benefit.
 * - Node's `server.maxConnections` refuses the newest connection, which lets a crowd of stalled
 *   connections lock a scraper out until they time out. Here the newest is always let in and an
 *   older one is closed instead: the one that has made no progress for the longest among those
 *   that never sent a whole request (a slowloris crowd), else among all. A scraper's keep-alive
 *   connection has sent requests, so a crowd of stalled newcomers closes one another, not it.
 *   Each kind is a Map ordered by last progress (moved to the end on each): its first is the one.
 */
import type { Socket } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HttpLimits } from './limits.js';

/** Why the server closed a connection, as the counts name it. */
export type ClosedReason = 'evicted' | 'pipelined' | 'deadline';

type Turn = readonly [response: ServerResponse, answer: () => void];

/** One client connection: its requests answered one at a time, in the order they came. */
class Connection {
  readonly #waiting: Turn[] = [];
  #busy = false;
  #deadline: NodeJS.Timeout | undefined;

  constructor(
    readonly socket: Socket,
    readonly table: ConnectionTable,
  ) {
    socket.once('close', () => {
      clearTimeout(this.#deadline);
      this.#waiting.length = 0;
    });
  }

  /** Answers now, or once the requests before it are answered; false when too many already wait. */
  take(response: ServerResponse, answer: () => void): boolean {
    if (!this.#busy) {
      this.#begin(response, answer);
      return true;
    }
    if (this.#waiting.length >= this.table.limits.maxQueuedRequests) return false;
    this.#waiting.push([response, answer]);
    return true;
  }

  #begin(response: ServerResponse, answer: () => void): void {
    this.#busy = true;
    this.#deadline = setTimeout(() => {
      this.table.close(this.socket, 'deadline');
    }, this.table.limits.responseDeadlineMs);
    response.once('close', () => {
      clearTimeout(this.#deadline);
      this.#busy = false;
      if (this.socket.destroyed) return;
      this.table.progressed(this.socket);
      const next = this.#waiting.shift();
      if (next !== undefined) this.#begin(...next);
    });
    answer();
  }
}

export class ConnectionTable {
  /** Open connections that have not sent a whole request yet, the one whose last progress is oldest first. */
  readonly #fresh = new Map<Socket, Connection>();
  /** Open connections that have, the same way. */
  readonly #requested = new Map<Socket, Connection>();
  /** Connections the server closed, by why. */
  readonly closed: Record<ClosedReason, number> = { evicted: 0, pipelined: 0, deadline: 0 };

  constructor(readonly limits: HttpLimits) {}

  get size(): number {
    return this.#fresh.size + this.#requested.size;
  }

  /** Takes a new connection in, closing the least lively one when there are too many. */
  accept(socket: Socket): void {
    this.#fresh.set(socket, new Connection(socket, this));
    socket.once('close', () => {
      this.#fresh.delete(socket);
      this.#requested.delete(socket);
    });
    if (this.size > this.limits.maxConnections) {
      const [stalest] = this.#fresh.size > 1 ? this.#fresh.keys() : this.#requested.keys();
      if (stalest !== undefined) this.close(stalest, 'evicted');
    }
  }

  /**
   * Gives a request its turn on its connection: `answer` is called when the requests before it on
   * the same connection are answered (it must end `response`). A request past the queue's limit
   * closes its connection and is never answered.
   */
  request(request: IncomingMessage, response: ServerResponse, answer: () => void): void {
    // The request's: a response waiting behind another has no socket yet.
    const socket = request.socket;
    const connection = this.#fresh.get(socket) ?? this.#requested.get(socket);
    // A connection already closed (evicted, or closed for its queue while Node still parses the
    // rest of its burst) answers nothing more.
    if (connection === undefined || socket.destroyed) return;
    this.progressed(socket);
    if (!connection.take(response, answer)) this.close(socket, 'pipelined');
  }

  /** Marks `socket` as having made progress (a request received, a response taken): the last of its kind to be closed for a newcomer. */
  progressed(socket: Socket): void {
    const connection = this.#fresh.get(socket) ?? this.#requested.get(socket);
    if (connection === undefined) return;
    this.#fresh.delete(socket);
    this.#requested.delete(socket);
    this.#requested.set(socket, connection);
  }

  close(socket: Socket, reason: ClosedReason): void {
    if (!this.#fresh.delete(socket) && !this.#requested.delete(socket)) return;
    this.closed[reason]++;
    socket.destroy();
  }
}
