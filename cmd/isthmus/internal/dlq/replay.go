package dlq

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"

	"github.com/isthmus/isthmus/cmd/isthmus/internal/opsclient"
	"github.com/isthmus/isthmus/cmd/isthmus/internal/opsenv"
	"github.com/isthmus/isthmus/pkg/deadletter"
)

// replay asks the operations API (role ops.replayer) to put dead letters
// on their service's retry topic (pkg/deadletter).
func replay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c opsclient.Client
	fs := opsenv.NewFlagSet("dlq replay", `Usage: isthmus dlq replay <service|dlq topic> (--offset N | --all) [--partition P] [--dry-run] [flags]
Puts dead-lettered messages on the retry topic of the service that dead-lettered them (<service>.retry.v1),
never back on the shared source topic: that service alone handles each one again, as if read from its
original topic, partition and offset. Original key, value and headers; dlq-replay-count + 1 and
dlq-replayed-from=<dlq topic>/<partition>/<offset>. A message already replayed is skipped, so running the
command twice replays once. Goes through the operations API (role ops.replayer, token in ISTHMUS_OPERATOR_TOKEN).
Fix the cause first (deploy the fix, correct the master data), then replay.`, stderr)
	c.Flags(fs)
	offset := fs.Int64("offset", -1, "offset of the message to replay")
	partition := fs.Int("partition", 0, "partition of the message")
	all := fs.Bool("all", false, "replay every message of the DLQ topic")
	dry := fs.Bool("dry-run", false, "print what would be replayed without producing")
	pos, err := c.Parse(fs, args)
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
	service, _ := deadletter.ServiceOf(topic)
	if (*offset >= 0) == *all {
		return errors.New("give exactly one of --offset N and --all")
	}
	body := map[string]any{"dry_run": *dry}
	if *all {
		body["all"] = true
	} else {
		body["offset"], body["partition"] = *offset, *partition
	}
	var out struct {
		Outcomes []deadletter.Outcome `json:"outcomes"`
	}
	if err := c.Do(ctx, "POST", "/api/ops/dlq/"+url.PathEscape(service)+"/replay", body, &out); err != nil {
		return err
	}
	if c.JSON() {
		return opsenv.WriteJSON(stdout, out.Outcomes)
	}
	counts := map[string]int{}
	for _, o := range out.Outcomes {
		counts[o.Action]++
		switch o.Action {
		case "replayed":
			fmt.Fprintf(stdout, "replayed          %s -> %s/%d offset %d (as %s, replay %d)\n", o.Source, o.Target, o.Partition, o.Offset, o.Origin, o.ReplayCount)
		case "would-replay":
			fmt.Fprintf(stdout, "would replay      %s -> %s key=%s (as %s, replay %d)\n", o.Source, o.Target, o.Key, o.Origin, o.ReplayCount)
		default:
			fmt.Fprintf(stdout, "%-17s %s: %s\n", o.Action, o.Source, o.Reason)
		}
	}
	fmt.Fprintf(stdout, "%d replayed, %d would replay, %d already replayed, %d skipped\n", counts["replayed"], counts["would-replay"], counts["already-replayed"], counts["skipped"])
	return nil
}
