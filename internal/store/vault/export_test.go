package vault

import "context"

// WriteOldPut records name again as Trove did before it kept content
// objects' sizes and fingerprints: a put record without csize and fp.
func WriteOldPut(ctx context.Context, v *Vault, name string) error {
	v.ixMu.Lock()
	defer v.ixMu.Unlock()
	e, err := v.lookup(name)
	if err != nil {
		return err
	}
	return v.appendLog(ctx, []record{{Op: "put", Name: name, Key: e.key, Size: e.size, SHA256: e.sum.String(), Time: e.time}})
}
