// IANA time zone names as this Node's ICU knows them (plus UTC, which supportedValuesOf omits).
let zones: readonly string[] | undefined;

export function knownTimeZones(): readonly string[] {
  zones ??= ["UTC", ...Intl.supportedValuesOf("timeZone")];
  return zones;
}

export function isTimeZone(name: string): boolean {
  if (knownTimeZones().includes(name)) return true;
  // ICU also accepts links such as Europe/Kiev that supportedValuesOf leaves out; but never
  // offsets or abbreviations, which Scaleway's scheduler does not take.
  if (!/^[A-Za-z_]+(\/[A-Za-z0-9_+-]+)+$/.test(name)) return false;
  try {
    new Intl.DateTimeFormat("en", { timeZone: name });
    return true;
  } catch {
    return false;
  }
}
