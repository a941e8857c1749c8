package registry

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/trustdeck/trustdeck/internal/names"
	"github.com/trustdeck/trustdeck/internal/registryclient"
	"github.com/trustdeck/trustdeck/internal/store"
)

// Event is one event of the registry's notifications (distribution's
// envelope), as the handler decoded it.
type Event struct {
	Action     string // push and delete count; pull and others are ignored
	Repository string // namespace/name, as the registry names it
	Tag        string
	Digest     string
	MediaType  string
}

// platformsTimeout bounds reading a pushed index's platforms while the
// registry waits for the notification's answer (the next sync reads them
// otherwise).
const platformsTimeout = 2 * time.Second

// change is what the events say of one repository.
type change struct {
	put            []store.RegistryTag
	deleted        []string
	deletedDigests []string
	pushed         bool
}

// Apply updates the tags the events name: a push of a tag records its
// digest (an index's platforms read from the registry), a deletion of a tag
// removes it, a deletion of a manifest removes every tag on it. A push to a
// repository trustdeck does not list enters it into the catalog (created by
// registry, audited once). Events that name no tag of a repository under the
// registry host (pulls, blobs, pushes by digest, names trustdeck cannot hold)
// change nothing. It reports how many events it applied.
func (s *Service) Apply(ctx context.Context, events []Event) (int, error) {
	changes := map[string]*change{}
	var order []string
	applied := 0
	for _, e := range events {
		if e.Repository == "" || names.GUN(s.cfg.Catalog.RegistryHost()+"/"+e.Repository) != nil {
			continue
		}
		if e.Digest != "" && !registryclient.ValidDigest(e.Digest) || e.Tag != "" && !registryclient.ValidTag(e.Tag) {
			continue
		}
		c := changes[e.Repository]
		if c == nil {
			c = &change{}
		}
		switch {
		case e.Action == "push" && e.Tag != "" && e.Digest != "" && (e.MediaType == "" || registryclient.IsManifest(e.MediaType)):
			c.put = append(c.put, store.RegistryTag{Tag: e.Tag, Digest: e.Digest, MediaType: e.MediaType})
			c.pushed = true
		case e.Action == "delete" && e.Tag != "":
			c.deleted = append(c.deleted, e.Tag)
		case e.Action == "delete" && e.Digest != "":
			c.deletedDigests = append(c.deletedDigests, e.Digest)
		default:
			continue
		}
		if changes[e.Repository] == nil {
			changes[e.Repository] = c
			order = append(order, e.Repository)
		}
		applied++
	}
	for _, repo := range order {
		if err := s.applyTo(ctx, repo, changes[repo]); err != nil {
			return applied, err
		}
	}
	return applied, nil
}

func (s *Service) applyTo(ctx context.Context, repository string, c *change) error {
	var key [2]string
	if c.pushed {
		var err error
		if key, err = s.enter(ctx, repository, SourceEvents, "discovered from the registry's notifications ("+s.cfg.Client.URL()+")"); err != nil {
			return err
		}
	} else {
		ns, name, ok := s.cfg.Catalog.SplitGUN(s.cfg.Catalog.RegistryHost() + "/" + repository)
		if ok && ns != names.Foreign {
			key = [2]string{ns, name}
		}
	}
	if key[0] == "" {
		return nil
	}
	// The last push of a tag wins; an index's platforms are read now.
	latest := map[string]int{}
	var put []store.RegistryTag
	for _, t := range c.put {
		if i, ok := latest[t.Tag]; ok {
			put[i] = t
			continue
		}
		latest[t.Tag] = len(put)
		put = append(put, t)
	}
	for i := range put {
		if registryclient.IsIndex(put[i].MediaType) {
			pctx, cancel := context.WithTimeout(ctx, platformsTimeout)
			m, err := s.cfg.Client.Manifest(pctx, repository, put[i].Digest)
			cancel()
			if err == nil && m.Found {
				put[i].Platforms = m.Platforms
			}
		}
	}
	err := s.cfg.Store.ChangeRegistryTags(ctx, key[0], key[1], put, c.deleted, c.deletedDigests)
	if errors.Is(err, store.ErrNotFound) {
		return nil // not in the catalog: nothing to show
	}
	if err != nil {
		return err
	}
	s.changedDuringRead(key)
	if s.tagsChanged != nil {
		changed := slices.Clone(put)
		for _, t := range c.deleted {
			changed = append(changed, store.RegistryTag{Tag: t})
		}
		s.tagsChanged(key[0], key[1], changed, false)
	}
	st, err := s.cfg.Store.RegistryState(ctx, key[0], key[1])
	if err != nil {
		return err
	}
	if st.CheckedAt.IsZero() {
		s.refresh(key[0], key[1]) // never read in full: the events alone are not all its tags
		return nil
	}
	rows, err := s.signedRows(ctx, key[0], key[1])
	if err != nil {
		return nil // unreadable trust data: the counts follow once it is read
	}
	return s.count(ctx, key[0], key[1], rows, st.Tags, st.Absent)
}
