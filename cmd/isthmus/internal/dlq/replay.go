package dlq

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/isthmus/isthmus/cmd/isthmus/internal/opsenv"
	"github.com/isthmus/isthmus/pkg/deadletter"
)

func replay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var env opsenv.Env
	fs := opsenv.NewFlagSet("dlq replay", `Usage: isthmus dlq replay <service|dlq topic> (--offset N | --all) [--partition P] [--dry-run] [flags]
Puts dead-lettered messages back on their original topic (header dlq-original-topic) with their
original key, value and headers, dlq-replay-count + 1 and dlq-replayed-from=<dlq topic>/<partition>/<offset>.
A message that was already replayed is skipped, so running the command twice replays once.
Fix the cause first (deploy the fix, correct the master data), then replay.`, stderr)
	env.Flags(fs)
	offset := fs.Int64("offset", -1, "offset of the message to replay")
	partition := fs.Int("partition", 0, "partition of the message")
	all := fs.Bool("all", false, "replay every message of the DLQ topic")
	dry := fs.Bool("dry-run", false, "print what would be replayed without producing")
	pos, err := env.Parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("want exactly one DLQ topic or service name (see --help)")
	}
	topic, err := deadletter.TopicOf(pos[0])
	if err != nil {
		return err
	}
	if (*offset >= 0) == *all {
		return errors.New("give exactly one of --offset N and --all")
	}
	cl, err := env.Connect(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	outs, err := deadletter.Replay(ctx, cl, env.Kafka(), deadletter.ReplayOptions{Topic: topic, Partition: int32(*partition), Offset: *offset, All: *all, DryRun: *dry, Timeout: env.Timeout, Progress: stderr})
	if env.JSON() {
		if outs == nil {
			outs = []deadletter.Outcome{}
		}
		if werr := opsenv.WriteJSON(stdout, outs); werr != nil {
			return werr
		}
	} else {
		counts := map[string]int{}
		for _, o := range outs {
			counts[o.Action]++
			switch o.Action {
			case "replayed":
				fmt.Fprintf(stdout, "replayed          %s -> %s/%d offset %d (replay %d)\n", o.Source, o.Target, o.Partition, o.Offset, o.ReplayCount)
			case "would-replay":
				fmt.Fprintf(stdout, "would replay      %s -> %s key=%s (replay %d)\n", o.Source, o.Target, o.Key, o.ReplayCount)
			default:
				fmt.Fprintf(stdout, "%-17s %s: %s\n", o.Action, o.Source, o.Reason)
			}
		}
		fmt.Fprintf(stdout, "%d replayed, %d would replay, %d already replayed, %d skipped\n", counts["replayed"], counts["would-replay"], counts["already-replayed"], counts["skipped"])
	}
	if err != nil {
		return env.ClusterErr(err)
	}
	return nil
}
