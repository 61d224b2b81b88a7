/** A comma-separated setting as its trimmed, non-empty entries (`a, b,,c` → `[a, b, c]`). */
export function commaList(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '');
}
