package signers

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/theupdateframework/notary/client"
	"github.com/theupdateframework/notary/client/changelist"
	"github.com/theupdateframework/notary/cryptoservice"
	"github.com/theupdateframework/notary/passphrase"
	store "github.com/theupdateframework/notary/storage"
	"github.com/theupdateframework/notary/trustmanager"
	"github.com/theupdateframework/notary/trustpinning"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/signed"
	"github.com/theupdateframework/notary/tuf/validation"

	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/notaryclient"
)

// operation is one change of one GUN, made on behalf of one actor: a notary
// client repository over a fresh cache and changelist, with a crypto service
// that holds only the keys given to open, and the remote store (made for the
// actor, journaled: see Journal) it publishes to. It is dropped when the
// operation ends.
type operation struct {
	repo   client.Repository
	remote store.RemoteStore
}

// roleKey is a private key and the role it signs for.
type roleKey struct {
	role data.RoleName
	key  data.PrivateKey
}

func keyFor(role data.RoleName, key data.PrivateKey) roleKey { return roleKey{role, key} }

// open prepares operation ch on gun with keys.
func (s *Service) open(ctx context.Context, gun string, ch change, keys ...roleKey) (*operation, error) {
	remote, err := s.remoteFor(ctx, gun, ch)
	if err != nil {
		return nil, err
	}
	// The keys stay in memory, unencrypted (they are decrypted for this
	// operation only); the empty passphrase keeps the store from spending a
	// key derivation on each.
	cs := cryptoservice.NewCryptoService(trustmanager.NewKeyMemoryStore(passphrase.ConstantRetriever("")))
	preset := map[data.RoleName]data.PublicKey{}
	for _, k := range keys {
		if err := cs.AddKey(k.role, data.GUN(gun), k.key); err != nil {
			return nil, fmt.Errorf("signers: load %s key: %w", k.role, err)
		}
		preset[k.role] = data.PublicKeyFromPrivate(k.key)
	}
	repo, err := client.NewRepository(data.GUN(gun), remote.Location(), remote, store.NewMemoryStore(nil),
		trustpinning.TrustPinConfig{}, fixedKeys{CryptoService: cs, keys: preset}, changelist.NewMemChangelist())
	if err != nil {
		return nil, fmt.Errorf("signers: notary client for %s: %w", gun, err)
	}
	return &operation{repo: repo, remote: remote}, nil
}

// remoteFor is the remote store an operation publishes ch to gun through:
// the server's store for ch's actor, journaled.
func (s *Service) remoteFor(ctx context.Context, gun string, ch change) (store.RemoteStore, error) {
	remote, err := s.remote(gun, ch.actor)
	if err != nil {
		return nil, &errs.Error{Kind: errs.Unavailable, Code: "trust_server_unavailable",
			Message: fmt.Sprintf("The trust server could not be reached to change %s.", gun), Err: err}
	}
	return journaled{RemoteStore: remote, ctx: ctx, gun: gun, change: ch, journal: s.journal}, nil
}

// fixedKeys is a crypto service that never makes keys: Create answers the
// key given for the role (so that Initialize uses the vault's repository
// key) or fails. Without it, notary's Publish would initialise a GUN whose
// trust data vanished meanwhile with keys nobody keeps.
type fixedKeys struct {
	signed.CryptoService
	keys map[data.RoleName]data.PublicKey
}

func (f fixedKeys) Create(role data.RoleName, _ data.GUN, _ string) (data.PublicKey, error) {
	if k, ok := f.keys[role]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("signers: refusing to create a %s key", role)
}

// writeError turns an error of notary's client during a change into a
// domain error.
func writeError(gun, op string, err error) error {
	if _, ok := errs.As(err); ok {
		return err
	}
	var (
		invalidOp    store.ErrInvalidOperation
		unavailable  store.ErrServerUnavailable
		network      store.NetworkError
		offline      store.ErrOffline
		notExist     client.ErrRepositoryNotExist
		notInit      client.ErrRepoNotInitialized
		metaNotFound store.ErrMetaNotFound
		insufficient signed.ErrInsufficientSignatures
		noKeys       signed.ErrNoKeys
		threshold    signed.ErrRoleThreshold
		expired      signed.ErrExpired
		hierarchy    validation.ErrBadHierarchy
		badUpdate    validation.ErrValidation
	)
	wrap := func(k errs.Kind, code, msg string) error {
		return &errs.Error{Kind: k, Code: code, Message: msg, Err: fmt.Errorf("%s %s: %w", op, gun, err)}
	}
	switch {
	case errors.As(err, &hierarchy):
		return wrap(errs.Conflict, "snapshot_key_on_client",
			fmt.Sprintf("The snapshot key of %s is held by a client, not by the Notary server, so trustdeck cannot publish. Let the server manage it first: notary key rotate %s snapshot -r", gun, gun))
	case errors.As(err, &badUpdate):
		return wrap(errs.Conflict, "publish_rejected",
			fmt.Sprintf("The trust server rejected the change to %s: %v", gun, err))
	case errors.As(err, &invalidOp):
		return wrap(errs.Conflict, "publish_rejected",
			fmt.Sprintf("The trust server rejected the change to %s; its trust data may have changed meanwhile. Reload and try again.", gun))
	case errors.As(err, &notExist), errors.As(err, &notInit), errors.As(err, &metaNotFound):
		return wrap(errs.Conflict, "no_trust_data",
			fmt.Sprintf("%s has no trust data (any more). Initialise it first.", gun))
	case errors.As(err, &insufficient), errors.As(err, &noKeys), errors.As(err, &threshold):
		return wrap(errs.Conflict, "cannot_sign",
			fmt.Sprintf("The change to %s needs a signature the repository key cannot give: %v", gun, err))
	case errors.As(err, &expired):
		return wrap(errs.Conflict, "trust_data_expired",
			fmt.Sprintf("The trust data of %s has expired (%v); it must be re-signed first.", gun, err))
	case errors.As(err, &network) && notaryclient.MayHaveReached(network):
		return notaryclient.OutcomeUnknown(gun, fmt.Errorf("%s %s: %w", op, gun, err))
	case errors.As(err, &unavailable), errors.As(err, &network), errors.As(err, &offline),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		msg := fmt.Sprintf("The trust server could not complete the change to %s.", gun)
		if why := notaryclient.Explain(err); why != "" {
			msg = fmt.Sprintf("The trust server could not complete the change to %s: %s.", gun, why)
		}
		return wrap(errs.Unavailable, "trust_server_unavailable", msg)
	}
	return wrap(errs.Internal, "publish_failed", fmt.Sprintf("Changing the trust data of %s failed.", gun))
}

// gunLocks runs the operations on one GUN one at a time.
type gunLocks struct {
	mu sync.Mutex
	m  map[string]*gunLock
}

type gunLock struct {
	ch    chan struct{} // holds a token while locked
	users int           // goroutines holding or waiting; guarded by gunLocks.mu
}

// lock waits for gun's lock or ctx's end. unlock releases it.
func (l *gunLocks) lock(ctx context.Context, gun string) (unlock func(), err error) {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*gunLock{}
	}
	g, ok := l.m[gun]
	if !ok {
		g = &gunLock{ch: make(chan struct{}, 1)}
		l.m[gun] = g
	}
	g.users++
	l.mu.Unlock()

	done := func() {
		l.mu.Lock()
		if g.users--; g.users == 0 {
			delete(l.m, gun)
		}
		l.mu.Unlock()
	}
	select {
	case g.ch <- struct{}{}:
		return func() { <-g.ch; done() }, nil
	case <-ctx.Done():
		done()
		return nil, ctx.Err()
	}
}
