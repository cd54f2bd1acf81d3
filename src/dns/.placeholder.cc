// Keeps the DNS libraries non-empty while their sources are being written.
namespace bulwark::dns {
int placeholderSymbol() { return 0; }
}  // namespace bulwark::dns
