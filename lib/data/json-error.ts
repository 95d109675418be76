/**
 * JSON.parse's SyntaxError, for the user: the 1-based line of the text it failed on (it says where
 * only in words) and its message on one line (it quotes the text around the error, newlines included).
 */

/** The failing line (undefined when the message does not say) and the one-line message. */
export function jsonSyntaxError(e: unknown, text: string): { line?: number; message: string } {
  const raw = e instanceof Error ? e.message : String(e);
  const at = jsonErrorPosition(raw, text);
  return { line: at === undefined ? undefined : countNewlines(text, at) + 1, message: raw.replace(/\r/g, '\\r').replace(/\n/g, '\\n') };
}

/**
 * Where JSON.parse failed, from its message: "at position N", or the excerpt V8 quotes around an
 * unexpected token (`Unexpected token 'x', ..."<10 chars>x<10 chars>"... is not valid JSON`),
 * found in the text. undefined when neither says.
 */
export function jsonErrorPosition(message: string, text: string): number | undefined {
  const pos = /at position (\d+)/.exec(message);
  if (pos) return Math.min(Number(pos[1]), text.length);
  const quoted = /^Unexpected token '(.)', (\.\.\.)?"([\s\S]*?)"(\.\.\.)? is not valid JSON$/.exec(message);
  if (!quoted) return undefined;
  const [, token, cut, excerpt] = quoted;
  const start = text.indexOf(excerpt);
  if (start < 0) return undefined;
  const offset = cut ? excerpt.indexOf(token, Math.min(10, excerpt.length - 1)) : excerpt.indexOf(token);
  return start + Math.max(0, offset);
}

function countNewlines(text: string, end: number): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < end; i = text.indexOf('\n', i + 1)) n++;
  return n;
}
