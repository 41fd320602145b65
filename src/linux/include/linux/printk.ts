/**
 * The kernel log (`printk`, `dev_warn`, `WARN_ONCE`, `dev_WARN_ONCE`):
 * messages the DMA layer prints, kept for diagnostics and tests.
 *
 * Messages keep the kernel's text with bracketed `key=value` evidence.
 * A `*Once` call prints only the first time its key is seen, as the
 * kernel's `_once` variants do per call site.
 */

/** One log line. */
export interface LogLine {
  readonly level: 'warn' | 'err' | 'info';
  readonly text: string;
}

/** The kernel log of one simulated kernel. */
export class Dmesg {
  private readonly items: LogLine[] = [];
  private readonly onceKeys = new Set<string>();

  /** Print a warning. */
  warn(text: string): void {
    this.items.push({ level: 'warn', text });
  }

  /** Print an error. */
  err(text: string): void {
    this.items.push({ level: 'err', text });
  }

  /** Print an informational line. */
  info(text: string): void {
    this.items.push({ level: 'info', text });
  }

  /** Print a warning once per `key` (`WARN_ONCE`, `dev_WARN_ONCE`, `pr_warn_once`). */
  warnOnce(key: string, text: string): void {
    if (this.onceKeys.has(key)) return;
    this.onceKeys.add(key);
    this.warn(text);
  }

  /** Every line so far, oldest first. */
  get lines(): readonly LogLine[] {
    return this.items;
  }

  /** True when some line contains `fragment`. */
  has(fragment: string): boolean {
    return this.items.some((l) => l.text.includes(fragment));
  }
}
