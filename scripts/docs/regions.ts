/**
 * Generated regions inside hand-written Markdown pages: the text between `<!-- generated:NAME -->` and
 * `<!-- /generated:NAME -->` belongs to `npm run docs`; everything around it is written by hand.
 */

/** Thrown when a page lacks the markers of a region it should hold. */
export class MissingRegionError extends Error {
  override readonly name = 'MissingRegionError';
}

function markers(name: string): [string, string] {
  return [`<!-- generated:${name} -->`, `<!-- /generated:${name} -->`];
}

/** The content of region `name` in `page`, without its markers. */
export function regionOf(page: string, name: string): string {
  const [begin, end] = markers(name);
  const start = page.indexOf(begin);
  const stop = page.indexOf(end);
  if (start < 0 || stop < start) {
    throw new MissingRegionError(
      `the page has no generated region "${name}"; add the lines ${begin} and ${end} where it goes`,
    );
  }
  return page
    .slice(start + begin.length, stop)
    .replace(/^\n/, '')
    .replace(/\n$/, '');
}

/** `page` with region `name` replaced by `content`. */
export function withRegion(page: string, name: string, content: string): string {
  const [begin, end] = markers(name);
  regionOf(page, name);
  const start = page.indexOf(begin) + begin.length;
  return `${page.slice(0, start)}\n${content}\n${page.slice(page.indexOf(end))}`;
}
