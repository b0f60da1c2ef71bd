// Delivers one output's outbox in order: reads the oldest unsent messages, hands them to the output's
// transport (a window at a time), and marks the delivered prefix sent. Woken when the station commits
// something (kick), and every `pollMs` as well, for rows another connection wrote.
import type { OutboxMessage, OutboxStore } from './outbox-store';

/** Where messages go (an MQTT connection, the OPC UA address space). */
export interface Transport {
  /** Whether deliver may be called now (connected / listening). */
  readonly ready: boolean;
  /**
   * Deliver `batch` in its order; resolve with how many messages from its start were delivered
   * (acknowledged, where the protocol acknowledges). Anything after the first failure is sent again later.
   * `progress(n)` may report a delivered prefix before the whole batch is done, so it is marked sent at once
   * (a station killed mid-batch then sends again only what was not yet acknowledged).
   */
  deliver(batch: OutboxMessage[], progress?: (n: number) => void): Promise<number>;
}

export interface SenderOptions {
  /** Messages per delivery round (the in-flight window). Default 64. */
  window?: number;
  /** Look at the outbox at least this often (ms) even without a kick. Default 1000. */
  pollMs?: number;
  /** After each round: how many were sent, and whether something failed. */
  onProgress?: (sent: number, failed: boolean) => void;
  /** A store or transport error (the sender keeps going: the messages stay owed). */
  onError?: (e: Error) => void;
}

export class OutboxSender {
  private running = false;
  private again = false;
  private closed = false;
  private readonly timer: NodeJS.Timeout;
  /** Messages delivered since this sender started. */
  sent = 0;
  lastSentAt: string | null = null;

  constructor(
    private readonly store: OutboxStore,
    readonly outputId: number,
    private readonly transport: Transport,
    private readonly o: SenderOptions = {},
  ) {
    this.timer = setInterval(() => this.kick(), o.pollMs ?? 1000);
    this.timer.unref();
  }

  /** Deliver what is owed, now (or right after the round in progress). */
  kick(): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    void this.drain().finally(() => {
      this.running = false;
      if (this.again && !this.closed) {
        this.again = false;
        this.kick();
      }
    });
  }

  private async drain(): Promise<void> {
    const window = this.o.window ?? 64;
    while (!this.closed && this.transport.ready) {
      let batch: OutboxMessage[];
      try {
        batch = this.store.pending(this.outputId, window);
      } catch (e) {
        this.o.onError?.(e as Error);
        return;
      }
      if (!batch.length) return;
      let marked = 0;
      let markFailed = false;
      const mark = (n: number) => {
        if (n <= marked || markFailed) return;
        try {
          this.store.markSent(this.outputId, batch[n - 1].seq);
        } catch (e) {
          // Delivered but not marked (database closed or full): sent again later, a duplicate by id.
          markFailed = true;
          this.o.onError?.(e as Error);
          return;
        }
        this.sent += n - marked;
        marked = n;
        this.lastSentAt = new Date().toISOString();
      };
      let n = 0;
      try {
        n = await this.transport.deliver(batch, mark);
      } catch (e) {
        this.o.onError?.(e as Error);
      }
      mark(n);
      if (markFailed) return;
      const failed = n < batch.length;
      this.o.onProgress?.(n, failed);
      if (failed) return;
    }
  }

  /** Stop; a round in progress finishes (its messages are marked if they were acknowledged). */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    while (this.running) await new Promise((r) => setTimeout(r, 10));
  }
}
