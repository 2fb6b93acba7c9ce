/** `amount` minor units of `currency`, formatted for the reader's locale. */
export function money(amount: number, currency: string): string {
  // Most currencies have two decimals; Intl knows the others.
  const digits = new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions()
    .maximumFractionDigits;
  return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(
    amount / 10 ** (digits ?? 2),
  );
}
