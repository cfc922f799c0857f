/** Benchmark options' values: a message naming the option for anything else. */

export function positiveInteger(name: string, text: string): number {
  if (!/^[1-9]\d*$/.test(text)) throw new Error(`--${name} must be a positive whole number (got ${JSON.stringify(text)})`);
  return Number(text);
}

export function positiveNumber(name: string, text: string): number {
  const value = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || !(value > 0)) throw new Error(`--${name} must be a positive number (got ${JSON.stringify(text)})`);
  return value;
}
