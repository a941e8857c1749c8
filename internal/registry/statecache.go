package registry

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/trustdeck/trustdeck/internal/lru"
	"github.com/trustdeck/trustdeck/internal/store"
)

// StateCacheTags bounds the registry states kept in memory, in tags (a
// 5,000-tag repository's state is ~1 MB).
const StateCacheTags = 200_000

// stateCache keeps what Store.RegistryState read, per repository, until the
// service writes that repository's registry state again: a repository
// page's tags then cost no database read of thousands of rows. Every write
// goes through it (it is the service's Store), so it drops the repository's
// entry before and after writing; a read that raced a write does not keep
// what it read (writes bump a version, a read keeps its result only if no
// write started since it began).
//
// An entry is kept with the repository's catalog stamp (ID and creation
// time), checked on every read (one indexed row): a repository deleted (its
// registry rows with it) and created again is read anew.
//
// With several replicas on one database, the others' writes are logged by
// the store (store.TopicRegistry) and drop the entry through Forget.
type stateCache struct {
	Store
	version atomic.Uint64
	states  *lru.Cache[[2]string, cachedState]
}

type cachedState struct {
	stamp string
	state store.RegistryState
}

func newStateCache(st Store) *stateCache {
	return &stateCache{Store: st, states: lru.New(StateCacheTags, func(_ [2]string, s cachedState) int {
		return 1 + len(s.state.Tags)
	})}
}

// RegistryState returns a copy of the state (callers may set its fields;
// its slices are shared and must not be changed).
func (c *stateCache) RegistryState(ctx context.Context, namespace, name string) (*store.RegistryState, error) {
	key := [2]string{namespace, name}
	v := c.version.Load()
	stamp, err := c.Store.RepositoryStamp(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	if e, ok := c.states.Get(key); ok && e.stamp == stamp {
		st := e.state
		return &st, nil
	}
	st, err := c.Store.RegistryState(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	if c.version.Load() == v {
		c.states.Put(key, cachedState{stamp, *st})
	}
	cp := *st
	return &cp, nil
}

// forget drops the repository's state: another replica wrote it.
func (c *stateCache) forget(namespace, name string) {
	c.version.Add(1)
	c.states.Remove([2]string{namespace, name})
}

// forgetAll drops every state.
func (c *stateCache) forgetAll() {
	c.version.Add(1)
	c.states.Clear()
}

// written drops the repository's state around a write.
func (c *stateCache) written(namespace, name string, write func() error) error {
	key := [2]string{namespace, name}
	c.version.Add(1)
	c.states.Remove(key)
	err := write()
	c.version.Add(1)
	c.states.Remove(key)
	return err
}

func (c *stateCache) SaveRegistryTags(ctx context.Context, namespace, name string, tags []store.RegistryTag, absent []string, at time.Time) error {
	return c.written(namespace, name, func() error { return c.Store.SaveRegistryTags(ctx, namespace, name, tags, absent, at) })
}

func (c *stateCache) ChangeRegistryTags(ctx context.Context, namespace, name string, put []store.RegistryTag, deleted, deletedDigests []string) error {
	return c.written(namespace, name, func() error {
		return c.Store.ChangeRegistryTags(ctx, namespace, name, put, deleted, deletedDigests)
	})
}

func (c *stateCache) RegistryFailed(ctx context.Context, namespace, name, cause string, at time.Time) error {
	return c.written(namespace, name, func() error { return c.Store.RegistryFailed(ctx, namespace, name, cause, at) })
}

func (c *stateCache) PutRegistryCounts(ctx context.Context, namespace, name string, counts store.RegistryCounts) error {
	return c.written(namespace, name, func() error { return c.Store.PutRegistryCounts(ctx, namespace, name, counts) })
}
