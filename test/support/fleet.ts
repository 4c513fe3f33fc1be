// The fleet builders live beside `snapkeeper sandbox`, which seeds its sample fleet with them; the tests keep
// importing them from here.
export { anInstance, aVolume, type SeededInstance } from '#cli/sandbox/fleet.ts';
