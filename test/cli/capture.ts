/** Captures what the CLI writes: `io` to pass to `main`, `out()`/`err()` to read it back. */
export const capture = () => {
  let out = '';
  let err = '';
  return {
    io: { out: (t: string) => void (out += t), err: (t: string) => void (err += t) },
    out: () => out,
    err: () => err,
  };
};
