/** Spelling help for error messages: the valid choice a mistyped value was most likely meant to be. */

/** The choice nearest to `input` within two edits (case ignored), if any. */
export function closestChoice(input: string, choices: readonly string[]): string | undefined {
  let best: { choice: string; distance: number } | undefined;
  for (const choice of choices) {
    const distance = editDistance(input.toLowerCase(), choice.toLowerCase());
    if (distance <= 2 && (!best || distance < best.distance)) best = { choice, distance };
  }
  return best?.choice;
}

/** ` (did you mean "x"?)` when a choice is close to `input` and is not `input` itself, else ''. */
export function didYouMean(input: string, choices: readonly string[]): string {
  const close = closestChoice(input, choices);
  return close && close !== input ? ` (did you mean "${close}"?)` : '';
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution);
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}
