package handlers

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/vault"
	"github.com/trustdeck/trustdeck/internal/views"
)

// problems collects what is wrong with a submitted form, field by field,
// before anything is changed: the form then shows them all at once.
type problems struct {
	list   views.FormErrors
	status int // the first problem's
}

// add records err (when not nil) at the field id. An error that is not the
// user's (userError) is returned instead, for the error page.
func (p *problems) add(id string, err error) error {
	if err == nil {
		return nil
	}
	if !userError(err) {
		return err
	}
	status, _, msg := classify(err)
	p.addMessage(id, status, msg)
	return nil
}

// require records that the field id must not be empty.
func (p *problems) require(id, value, msg string) {
	if value == "" {
		p.addMessage(id, http.StatusBadRequest, msg)
	}
}

func (p *problems) addMessage(id string, status int, msg string) {
	if len(p.list) == 0 {
		p.status = status
	}
	p.list = append(p.list, views.FieldError{Field: id, Message: msg})
}

// any reports whether the form has a problem.
func (p *problems) any() bool { return len(p.list) > 0 }

// refusal is the problem of a change the service refused, at the field its
// code names in fields ("" for the form as a whole).
func refusal(err error, msg string, fields map[string]string) views.FormErrors {
	id := ""
	if e, ok := errs.As(err); ok {
		id = fields[e.Code]
	}
	return views.FormErrors{{Field: id, Message: msg}}
}

// keyFileCodes are the refusals of a key file (an upload used once, or an
// import): its field takes them.
var keyFileCodes = []string{"not_pem", "several_pem_blocks", "unsupported_pem_type", "damaged_key", "empty_key",
	"key_not_encrypted", "not_private_key", "key_iterations", "file_too_large", "not_repository_key", "not_role_key",
	"not_root_key", "key_not_in_vault", "unsupported_algorithm", "rsa_too_short"}

// keyFields places the refusals of a key (RepoKey, RootKey: from the vault
// or a file used once) at the key file's field and its passphrase's.
func keyFields(file, passphrase string) map[string]string {
	m := map[string]string{"wrong_passphrase": passphrase, "passphrase_required": passphrase}
	for _, code := range keyFileCodes {
		m[code] = file
	}
	return m
}

// keptPEM is pasted PEM to put back into a refused form: public keys and
// certificates only, never a private key.
func keptPEM(pasted string) string {
	if strings.Contains(pasted, "PRIVATE KEY") {
		return ""
	}
	return pasted
}

// newPassphrase checks the passphrase of a new key (what: "root key") typed
// into the field id and repeated into id_confirm.
func (p *problems) newPassphrase(id, value, repeat, what string) {
	if len(value) < vault.MinPassphraseLength {
		p.addMessage(id, http.StatusBadRequest, fmt.Sprintf("The %s needs a passphrase of at least %d characters.", what, vault.MinPassphraseLength))
	}
	if value != repeat {
		p.addMessage(id+"_confirm", http.StatusBadRequest, "The two "+what+" passphrases differ.")
	}
}
