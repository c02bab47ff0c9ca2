// The benchmark fragment renders nothing; it only declares bench.ping (fragment.toml).
export function mount() {}
