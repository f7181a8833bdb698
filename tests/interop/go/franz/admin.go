package main

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func strp(s string) *string { return &s }

// until re-reads until ok holds or 15 s pass: Kafka applies admin changes through its metadata
// log, so a broker shows them a moment after the call returns.
func until(ok func() bool) {
	deadline := time.Now().Add(15 * time.Second)
	for !ok() && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
}

func configValue(rc kadm.ResourceConfigs, key string) map[string]any {
	for _, r := range rc {
		for _, c := range r.Configs {
			if c.Key == key {
				v := ""
				if c.Value != nil {
					v = *c.Value
				}
				return map[string]any{"value": v, "source": c.Source.String(), "error": errText(r.Err)}
			}
		}
		if r.Err != nil {
			return map[string]any{"error": r.Err.Error()}
		}
	}
	return map[string]any{"missing": true}
}

func partitionsOf(td kadm.TopicDetails, topic string) map[string]any {
	d, ok := td[topic]
	if !ok {
		return map[string]any{"missing": true}
	}
	leaders := map[string]int32{}
	for p, pd := range d.Partitions {
		leaders[fmt.Sprint(p)] = pd.Leader
	}
	return map[string]any{"partitions": len(d.Partitions), "leaders": leaders, "error": errText(d.Err)}
}

func offsetsOf(lo kadm.ListedOffsets, topic string) map[string]any {
	out := map[string]any{}
	for p, o := range lo[topic] {
		out[fmt.Sprint(p)] = map[string]any{"offset": o.Offset, "error": errText(o.Err)}
	}
	return out
}

// admin runs kadm's operations in a fixed order and prints one JSON line per step.
func admin(ctx context.Context, bootstrap, topic, groupID string) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		fail("client", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)

	md, err := adm.BrokerMetadata(ctx)
	brokers := []int32{}
	for _, b := range md.Brokers {
		brokers = append(brokers, b.NodeID)
	}
	emit(map[string]any{"step": "metadata", "cluster": md.Cluster, "brokers": brokers, "error": errText(err)})

	cr, err := adm.CreateTopics(ctx, 3, 1, map[string]*string{"retention.ms": strp("3600000")}, topic)
	emit(map[string]any{"step": "create", "error": errText(err), "topic_error": errText(cr[topic].Err),
		"partitions": cr[topic].NumPartitions})
	cr, err = adm.CreateTopics(ctx, 3, 1, nil, topic)
	emit(map[string]any{"step": "create_again", "error": errText(err), "topic_error": errText(cr[topic].Err)})

	td, err := adm.ListTopics(ctx, topic)
	emit(map[string]any{"step": "list", "error": errText(err), "topic": partitionsOf(td, topic)})

	rc, err := adm.DescribeTopicConfigs(ctx, topic)
	emit(map[string]any{"step": "describe_configs", "error": errText(err), "retention.ms": configValue(rc, "retention.ms")})
	ar, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: strp("7200000")}}, topic)
	alterErr := any(nil)
	if len(ar) > 0 {
		alterErr = errText(ar[0].Err)
	}
	until(func() bool {
		rc, _ = adm.DescribeTopicConfigs(ctx, topic)
		return configValue(rc, "retention.ms")["value"] == "7200000"
	})
	emit(map[string]any{"step": "alter_configs", "error": errText(err), "resource_error": alterErr,
		"retention.ms": configValue(rc, "retention.ms")})

	pr, err := adm.CreatePartitions(ctx, 2, topic)
	until(func() bool {
		td, _ = adm.ListTopics(ctx, topic)
		return len(td[topic].Partitions) == 5
	})
	emit(map[string]any{"step": "create_partitions", "error": errText(err), "topic_error": errText(pr[topic].Err),
		"topic": partitionsOf(td, topic)})

	recs := []*kgo.Record{}
	for i := 0; i < 10; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: 0, Value: []byte(fmt.Sprint(i))})
	}
	perr := cl.ProduceSync(ctx, recs...).FirstErr()
	starts, err1 := adm.ListStartOffsets(ctx, topic)
	ends, err2 := adm.ListEndOffsets(ctx, topic)
	emit(map[string]any{"step": "list_offsets", "produce_error": errText(perr), "error": errText(err1),
		"end_error": errText(err2), "start": offsetsOf(starts, topic), "end": offsetsOf(ends, topic)})

	del := kadm.Offsets{}
	del.Add(kadm.Offset{Topic: topic, Partition: 0, At: 4})
	dr, err := adm.DeleteRecords(ctx, del)
	d0 := dr[topic][0]
	starts, _ = adm.ListStartOffsets(ctx, topic)
	emit(map[string]any{"step": "delete_records", "error": errText(err), "partition_error": errText(d0.Err),
		"low_watermark": d0.LowWatermark, "start": offsetsOf(starts, topic)})

	commit := kadm.Offsets{}
	commit.Add(kadm.Offset{Topic: topic, Partition: 0, At: 7, LeaderEpoch: -1, Metadata: "franz"})
	_, err = adm.CommitOffsets(ctx, groupID, commit)
	fo, err2 := adm.FetchOffsets(ctx, groupID)
	got, _ := fo.Lookup(topic, 0)
	emit(map[string]any{"step": "commit_offsets", "error": errText(err), "fetch_error": errText(err2),
		"offset": got.At, "metadata": got.Metadata, "offset_error": errText(got.Err)})

	lags, err := adm.Lag(ctx, groupID)
	lag := int64(-2)
	if gl, ok := lags[groupID]; ok {
		if l, ok := gl.Lag.Lookup(topic, 0); ok {
			lag = l.Lag
		}
	}
	emit(map[string]any{"step": "lag", "error": errText(err), "lag": lag})

	lg, err := adm.ListGroups(ctx)
	dg, err2 := adm.DescribeGroups(ctx, groupID)
	emit(map[string]any{"step": "groups", "error": errText(err), "describe_error": errText(err2),
		"listed": func() bool { _, ok := lg[groupID]; return ok }(), "state": dg[groupID].State,
		"group_error": errText(dg[groupID].Err)})

	dgr, err := adm.DeleteGroups(ctx, groupID)
	until(func() bool {
		lg, _ = adm.ListGroups(ctx)
		_, ok := lg[groupID]
		return !ok
	})
	emit(map[string]any{"step": "delete_group", "error": errText(err), "group_error": errText(dgr[groupID].Err),
		"listed": func() bool { _, ok := lg[groupID]; return ok }()})

	dt, err := adm.DeleteTopics(ctx, topic)
	emit(map[string]any{"step": "delete_topic", "error": errText(err), "topic_error": errText(dt[topic].Err)})
	dt, err = adm.DeleteTopics(ctx, topic)
	emit(map[string]any{"step": "delete_topic_again", "error": errText(err), "topic_error": errText(dt[topic].Err)})
}
