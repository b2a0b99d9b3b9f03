package provision

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/isthmus/isthmus/pkg/catalog"
	"github.com/isthmus/isthmus/pkg/kafka"
)

// Action is what apply does to one topic.
type Action string

// Actions of a plan.
const (
	Create    Action = "create"
	Alter     Action = "alter"
	Unchanged Action = "unchanged"
	Refuse    Action = "refuse"
)

// Step is the plan for one topic.
type Step struct {
	Topic         string // physical name
	Action        Action
	Partitions    int32             // target count
	AddPartitions int32             // > 0 when partitions grow
	Set           map[string]string // configs to set (create: all)
	Changes       []string          // human-readable differences
	Reason        string            // for Refuse
}

func (s Step) String() string {
	switch s.Action {
	case Create:
		keys := slices.Sorted(maps.Keys(s.Set))
		parts := []string{fmt.Sprintf("partitions=%d", s.Partitions)}
		for _, k := range keys {
			parts = append(parts, k+"="+s.Set[k])
		}
		return fmt.Sprintf("%-9s %s  %s", s.Action, s.Topic, strings.Join(parts, " "))
	case Alter:
		return fmt.Sprintf("%-9s %s  %s", s.Action, s.Topic, strings.Join(s.Changes, ", "))
	case Refuse:
		return fmt.Sprintf("%-9s %s  %s", s.Action, s.Topic, s.Reason)
	}
	return fmt.Sprintf("%-9s %s", s.Action, s.Topic)
}

// Existing is what the cluster has for one topic.
type Existing struct {
	Partitions int32
	Configs    map[string]string
}

// Plan compares the catalog's topics with the cluster's.
func Plan(prefix string, topics []*catalog.Topic, existing map[string]Existing) []Step {
	var out []Step
	for _, t := range topics {
		name := prefix + t.Name
		want := t.BrokerConfigs()
		cur, ok := existing[name]
		if !ok {
			out = append(out, Step{Topic: name, Action: Create, Partitions: t.Partitions, Set: want})
			continue
		}
		st := Step{Topic: name, Partitions: t.Partitions, Set: map[string]string{}}
		switch {
		case cur.Partitions > t.Partitions:
			out = append(out, Step{Topic: name, Action: Refuse, Reason: fmt.Sprintf("has %d partitions, catalog says %d: Kafka cannot remove partitions", cur.Partitions, t.Partitions)})
			continue
		case cur.Partitions < t.Partitions:
			st.AddPartitions = t.Partitions - cur.Partitions
			st.Changes = append(st.Changes, fmt.Sprintf("partitions %d -> %d", cur.Partitions, t.Partitions))
		}
		for _, k := range slices.Sorted(maps.Keys(want)) {
			if have, ok := cur.Configs[k]; !ok || have != want[k] {
				st.Set[k] = want[k]
				was := have
				if !ok {
					was = "(default)"
				}
				st.Changes = append(st.Changes, fmt.Sprintf("%s %s -> %s", k, was, want[k]))
			}
		}
		st.Action = Unchanged
		if len(st.Changes) > 0 {
			st.Action = Alter
		}
		out = append(out, st)
	}
	return out
}

// Describe reads partitions and configs of the catalog topics that exist.
func Describe(ctx context.Context, adm *kadm.Client, prefix string, topics []*catalog.Topic) (map[string]Existing, error) {
	names := make([]string, len(topics))
	for i, t := range topics {
		names[i] = prefix + t.Name
	}
	details, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return nil, err
	}
	out := map[string]Existing{}
	var present []string
	for _, d := range details.Sorted() {
		if errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
			continue
		}
		if d.Err != nil {
			return nil, fmt.Errorf("describe %s: %w", d.Topic, d.Err)
		}
		out[d.Topic] = Existing{Partitions: int32(len(d.Partitions)), Configs: map[string]string{}}
		present = append(present, d.Topic)
	}
	if len(present) == 0 {
		return out, nil
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, present...)
	if err != nil {
		return nil, err
	}
	for _, rc := range rcs {
		if rc.Err != nil {
			return nil, fmt.Errorf("describe configs of %s: %w", rc.Name, rc.Err)
		}
		e := out[rc.Name]
		for _, c := range rc.Configs {
			if c.Value != nil {
				e.Configs[c.Key] = *c.Value
			}
		}
	}
	return out, nil
}

// Execute carries out one step of a plan.
func Execute(ctx context.Context, adm *kadm.Client, st Step, rf int16) error {
	switch st.Action {
	case Create:
		cfg := map[string]*string{}
		for k, v := range st.Set {
			cfg[k] = &v
		}
		// A topic created concurrently is aligned by the next run.
		return kafka.CreateTopic(ctx, adm, st.Topic, st.Partitions, rf, cfg)
	case Alter:
		if st.AddPartitions > 0 {
			rs, err := adm.UpdatePartitions(ctx, int(st.Partitions), st.Topic)
			if err != nil {
				return err
			}
			if r, ok := rs[st.Topic]; ok && r.Err != nil {
				return fmt.Errorf("partitions: %w %s", r.Err, r.ErrMessage)
			}
		}
		if len(st.Set) > 0 {
			var alters []kadm.AlterConfig
			for _, k := range slices.Sorted(maps.Keys(st.Set)) {
				v := st.Set[k]
				alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: &v})
			}
			rs, err := adm.AlterTopicConfigs(ctx, alters, st.Topic)
			if err != nil {
				return err
			}
			for _, r := range rs {
				if r.Err != nil {
					return fmt.Errorf("configs: %w %s", r.Err, r.ErrMessage)
				}
			}
		}
	}
	return nil
}

// Topics plans and, unless dryRun, applies the catalog's topics with prefix.
// It returns the plan; refused steps (partitions cannot shrink) are
// reported as an error after every other step was applied.
func Topics(ctx context.Context, cl *kgo.Client, prefix string, topics []*catalog.Topic, replicationFactor int16, dryRun bool) ([]Step, error) {
	adm := kadm.NewClient(cl)
	existing, err := Describe(ctx, adm, prefix, topics)
	if err != nil {
		return nil, err
	}
	plan := Plan(prefix, topics, existing)
	var refused []string
	for _, st := range plan {
		if st.Action == Refuse {
			refused = append(refused, st.Topic+" "+st.Reason)
		}
	}
	if !dryRun {
		for _, st := range plan {
			if err := Execute(ctx, adm, st, replicationFactor); err != nil {
				return plan, fmt.Errorf("%s %s: %w", st.Action, st.Topic, err)
			}
		}
		if err := waitLed(ctx, cl, plan); err != nil {
			return plan, err
		}
	}
	if len(refused) > 0 {
		return plan, fmt.Errorf("%d topic(s) cannot be applied; first: %s", len(refused), refused[0])
	}
	return plan, nil
}

// waitLed waits until every topic of the plan that was not refused is
// listed with its planned partitions, each with a leader. A created topic
// is in the controller's log before every broker's metadata: a service
// started right after `topics apply` (or `isthmus dev`) would otherwise
// find its inputs missing. It asks a broker each time (kadm's metadata is
// cached for seconds, and the plan's lookup cached these topics missing).
func waitLed(ctx context.Context, cl *kgo.Client, plan []Step) error {
	want := map[string]int32{}
	req := kmsg.NewPtrMetadataRequest()
	for _, st := range plan {
		if st.Action != Refuse {
			want[st.Topic] = st.Partitions
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(st.Topic)
			req.Topics = append(req.Topics, rt)
		}
	}
	if len(want) == 0 {
		return nil
	}
	for {
		resp, err := req.RequestWith(ctx, cl)
		missing := ""
		if err == nil {
			missing = notLed(resp, want)
			if missing == "" {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = fmt.Errorf("%s is not listed with a leader for each of its %d partitions", missing, want[missing])
			}
			return fmt.Errorf("topics applied but not ready: %w (%v)", err, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// notLed names a topic of want that resp does not list with at least its
// partitions, each led ("" when all are).
func notLed(resp *kmsg.MetadataResponse, want map[string]int32) string {
	listed := map[string]*kmsg.MetadataResponseTopic{}
	for i := range resp.Topics {
		if t := &resp.Topics[i]; t.Topic != nil {
			listed[*t.Topic] = t
		}
	}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		t, ok := listed[name]
		if !ok || t.ErrorCode != 0 || int32(len(t.Partitions)) < want[name] {
			return name
		}
		for _, p := range t.Partitions {
			if p.ErrorCode != 0 || p.Leader < 0 {
				return name
			}
		}
	}
	return ""
}
