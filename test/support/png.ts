import { inflateSync } from 'node:zlib';

/**
 * A small PNG decoder for screenshots: 8-bit greyscale, RGB or RGBA, not interlaced (what Chromium writes). Enough
 * to count the pixels of a region that differ from the page's background, without an image library.
 */
export interface Image {
  width: number;
  height: number;
  /** RGBA, 4 bytes a pixel, row by row. */
  rgba: Uint8Array;
}

const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 6: 4 };

export function decodePng(png: Buffer): Image {
  if (png.readUInt32BE(0) !== 0x89504e47) throw new Error('not a PNG');
  let offset = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const data: Buffer[] = [];
  while (offset < png.length) {
    const length = png.readUInt32BE(offset);
    const type = png.toString('ascii', offset + 4, offset + 8);
    const body = png.subarray(offset + 8, offset + 8 + length);
    if (type === 'IHDR') {
      width = body.readUInt32BE(0);
      height = body.readUInt32BE(4);
      const [depth, colour, , , interlace] = [body[8], body[9], body[10], body[11], body[12]];
      channels = CHANNELS[colour ?? -1] ?? 0;
      if (depth !== 8 || channels === 0 || interlace !== 0)
        throw new Error(`unsupported PNG: depth ${depth}, colour type ${colour}, interlace ${interlace}`);
    }
    if (type === 'IDAT') data.push(body);
    if (type === 'IEND') break;
    offset += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(data));
  const stride = width * channels;
  const pixels = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    for (let x = 0; x < stride; x++) {
      const value = raw[y * (stride + 1) + 1 + x] ?? 0;
      const left = x >= channels ? (pixels[y * stride + x - channels] ?? 0) : 0;
      const up = y > 0 ? (pixels[(y - 1) * stride + x] ?? 0) : 0;
      const upLeft = y > 0 && x >= channels ? (pixels[(y - 1) * stride + x - channels] ?? 0) : 0;
      pixels[y * stride + x] = (value + predict(filter ?? 0, left, up, upLeft)) & 0xff;
    }
  }
  const rgba = new Uint8Array(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    const p = pixels.subarray(i * channels, i * channels + channels);
    const [r, g, b, a] =
      channels === 1 ? [p[0], p[0], p[0], 255] : [p[0], p[1], p[2], channels === 4 ? p[3] : 255];
    rgba.set([r ?? 0, g ?? 0, b ?? 0, a ?? 255], i * 4);
  }
  return { width, height, rgba };
}

function predict(filter: number, left: number, up: number, upLeft: number): number {
  switch (filter) {
    case 0:
      return 0;
    case 1:
      return left;
    case 2:
      return up;
    case 3:
      return Math.floor((left + up) / 2);
    case 4: {
      const p = left + up - upLeft;
      const [pa, pb, pc] = [Math.abs(p - left), Math.abs(p - up), Math.abs(p - upLeft)];
      return pa <= pb && pa <= pc ? left : pb <= pc ? up : upLeft;
    }
    default:
      throw new Error(`bad PNG filter ${filter}`);
  }
}

/** Pixels inside the rectangle whose colour differs from `background` (RGB) by more than a little. */
export function drawnPixels(
  image: Image,
  rect: { x: number; y: number; width: number; height: number },
  background: [number, number, number] = [255, 255, 255],
): number {
  let count = 0;
  for (let y = Math.max(0, Math.floor(rect.y)); y < Math.min(image.height, rect.y + rect.height); y++) {
    for (let x = Math.max(0, Math.floor(rect.x)); x < Math.min(image.width, rect.x + rect.width); x++) {
      const i = (y * image.width + x) * 4;
      const diff =
        Math.abs((image.rgba[i] ?? 0) - background[0]) +
        Math.abs((image.rgba[i + 1] ?? 0) - background[1]) +
        Math.abs((image.rgba[i + 2] ?? 0) - background[2]);
      if (diff > 24) count++;
    }
  }
  return count;
}
