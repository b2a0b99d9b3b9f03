package processor

import (
	"fmt"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// copartitioned is the processor's group balancer: cooperative (KIP-429)
// and sticky, and it assigns partition numbers, not topic partitions, so
// partition p of every input topic (and of every changelog and internal
// topic that follows it) lives on one member.
//
// Each rebalance keeps every member's current partition numbers up to its
// fair share, then hands the rest to members below their share. A number
// that moves from one member to another is first only revoked (the plan
// leaves it unassigned); the old owner commits, drops its state and
// rejoins, and the second, immediate rebalance gives it to the new owner.
// Members that keep a number keep its state and never stop processing it.
type copartitioned struct{}

const copartitionedProtocol = "isthmus-copartitioned-v1"

func (copartitioned) ProtocolName() string { return copartitionedProtocol }
func (copartitioned) IsCooperative() bool  { return true }

func (copartitioned) JoinGroupMetadata(topics []string, current map[string][]int32, generation int32) []byte {
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Version = 3
	meta.Topics = topics
	meta.Generation = generation
	owned := make([]string, 0, len(current))
	for t := range current {
		owned = append(owned, t)
	}
	sort.Strings(owned)
	for _, t := range owned {
		op := kmsg.NewConsumerMemberMetadataOwnedPartition()
		op.Topic = t
		op.Partitions = append([]int32(nil), current[t]...)
		sort.Slice(op.Partitions, func(i, j int) bool { return op.Partitions[i] < op.Partitions[j] })
		meta.OwnedPartitions = append(meta.OwnedPartitions, op)
	}
	return meta.AppendTo(nil)
}

func (copartitioned) ParseSyncAssignment(assignment []byte) (map[string][]int32, error) {
	return kgo.ParseConsumerSyncAssignment(assignment)
}

func (c copartitioned) MemberBalancer(members []kmsg.JoinGroupResponseMember) (kgo.GroupMemberBalancer, map[string]struct{}, error) {
	b, err := kgo.NewConsumerBalancer(c, members)
	return b, b.MemberTopics(), err
}

// Balance implements kgo.ConsumerBalancerBalance.
func (copartitioned) Balance(b *kgo.ConsumerBalancer, topics map[string]int32) kgo.IntoSyncAssignment {
	plan := b.NewPlan()
	if err := checkCopartitioned(topics); err != nil {
		b.SetError(err)
		return nil
	}
	var n int32
	for _, c := range topics {
		n = max(n, c)
	}
	members := b.Members()
	if len(members) == 0 || n == 0 {
		return plan
	}
	// A number is owned by the claimant with the highest generation (a
	// member that missed rebalances may still claim what moved on).
	type claim struct {
		member int
		gen    int32
	}
	owner := map[int32]claim{}
	for i := range members {
		_, meta := b.MemberAt(i)
		for _, op := range meta.OwnedPartitions {
			if _, ok := topics[op.Topic]; !ok {
				continue
			}
			for _, p := range op.Partitions {
				if c, ok := owner[p]; !ok || meta.Generation > c.gen {
					owner[p] = claim{member: i, gen: meta.Generation}
				}
			}
		}
	}
	owns := make([][]int32, len(members))
	for p := int32(0); p < n; p++ {
		if c, ok := owner[p]; ok {
			owns[c.member] = append(owns[c.member], p)
		}
	}
	quota := assignQuotas(int(n), owns)
	assign := make([][]int32, len(members))
	var free []int32
	for i, ps := range owns {
		keep := min(len(ps), quota[i])
		assign[i] = append(assign[i], ps[:keep]...)
		free = append(free, ps[keep:]...)
	}
	for p := int32(0); p < n; p++ {
		if _, ok := owner[p]; !ok {
			free = append(free, p)
		}
	}
	sort.Slice(free, func(i, j int) bool { return free[i] < free[j] })
	for i := range assign {
		for len(assign[i]) < quota[i] && len(free) > 0 {
			assign[i] = append(assign[i], free[0])
			free = free[1:]
		}
	}
	for i, ps := range assign {
		m, _ := b.MemberAt(i)
		for t, count := range topics {
			for _, p := range ps {
				if p < count {
					plan.AddPartition(m, t, p)
				}
			}
		}
	}
	plan.AdjustCooperative(b)
	return plan
}

// assignQuotas gives every member n/len(owns) numbers and the remainder, one
// each, to the members that already own the most (fewest moves).
func assignQuotas(n int, owns [][]int32) []int {
	m := len(owns)
	quota := make([]int, m)
	order := make([]int, m)
	for i := range quota {
		quota[i] = n / m
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return len(owns[order[a]]) > len(owns[order[b]]) })
	for k := 0; k < n%m; k++ {
		quota[order[k]]++
	}
	return quota
}

// checkCopartitioned fails when the topics do not all have the same number
// of partitions, naming each topic and its count.
func checkCopartitioned(topics map[string]int32) error {
	counts := map[int32][]string{}
	for t, c := range topics {
		counts[c] = append(counts[c], t)
	}
	if len(counts) <= 1 {
		return nil
	}
	var parts []string
	for c, ts := range counts {
		sort.Strings(ts)
		parts = append(parts, fmt.Sprintf("%s: %d", strings.Join(ts, ", "), c))
	}
	sort.Strings(parts)
	return fmt.Errorf("topics are not co-partitioned (state is kept per partition number, so every input, internal and changelog topic needs the same partition count): %s", strings.Join(parts, "; "))
}
