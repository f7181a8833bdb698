// franz: the interop suite's franz-go driver (tests/interop/test_go_clients.py and
// test_mixed_groups.py run it). Each subcommand prints JSON lines on stdout; errors are JSON
// lines too ({"error": ...}) so that a test can assert on what the client saw.
//
//	franz produce  BOOTSTRAP TOPIC COUNT CODEC   keyed records with headers, default (idempotent) producer
//	franz consume  BOOTSTRAP TOPIC COUNT         direct (no group) read of COUNT records from the start
//	franz group    BOOTSTRAP GROUP TOPIC BALANCER a group member until stdin says "close"
//	franz admin    BOOTSTRAP TOPIC GROUP         kadm: create, describe, configs, partitions, offsets, groups, delete
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

var outMu sync.Mutex

func emit(v map[string]any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	outMu.Lock()
	defer outMu.Unlock()
	os.Stdout.Write(append(b, '\n'))
}

func errText(err error) any {
	if err == nil {
		return nil
	}
	return err.Error()
}

func fail(what string, err error) {
	emit(map[string]any{"error": what + ": " + err.Error()})
	os.Exit(1)
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: franz produce|consume|group|admin BOOTSTRAP ...")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	bootstrap := os.Args[2]
	switch os.Args[1] {
	case "produce":
		n, _ := strconv.Atoi(os.Args[4])
		produce(ctx, bootstrap, os.Args[3], n, os.Args[5])
	case "consume":
		n, _ := strconv.Atoi(os.Args[4])
		consume(ctx, bootstrap, os.Args[3], n)
	case "group":
		group(bootstrap, os.Args[3], os.Args[4], os.Args[5])
	case "admin":
		admin(ctx, bootstrap, os.Args[3], os.Args[4])
	default:
		fmt.Fprintln(os.Stderr, "unknown subcommand", os.Args[1])
		os.Exit(2)
	}
}

func codec(name string) kgo.CompressionCodec {
	switch name {
	case "gzip":
		return kgo.GzipCompression()
	case "snappy":
		return kgo.SnappyCompression()
	case "lz4":
		return kgo.Lz4Compression()
	case "zstd":
		return kgo.ZstdCompression()
	}
	return kgo.NoCompression()
}

func produce(ctx context.Context, bootstrap, topic string, n int, codecName string) {
	// franz-go's defaults: idempotent, acks=all.
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.DefaultProduceTopic(topic),
		kgo.ProducerBatchCompression(codec(codecName)), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		fail("client", err)
	}
	defer cl.Close()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Key: []byte(fmt.Sprintf("k-%d", i)), Value: []byte(fmt.Sprintf("franz-%d", i)),
			Headers: []kgo.RecordHeader{{Key: "i", Value: []byte(strconv.Itoa(i))}, {Key: "from", Value: []byte("franz-go")}}}
	}
	results := cl.ProduceSync(ctx, recs...)
	for _, r := range results {
		emit(map[string]any{"key": string(r.Record.Key), "partition": r.Record.Partition,
			"offset": r.Record.Offset, "error": errText(r.Err)})
	}
}

func recordJSON(r *kgo.Record) map[string]any {
	headers := [][]string{}
	for _, h := range r.Headers {
		headers = append(headers, []string{h.Key, string(h.Value)})
	}
	return map[string]any{"topic": r.Topic, "partition": r.Partition, "offset": r.Offset,
		"key": string(r.Key), "value": string(r.Value), "headers": headers, "timestamp": r.Timestamp.UnixMilli()}
}

func consume(ctx context.Context, bootstrap, topic string, n int) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		fail("client", err)
	}
	defer cl.Close()
	for seen := 0; seen < n; {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			fail("consume", ctx.Err())
		}
		fs.EachError(func(t string, p int32, err error) { fail(fmt.Sprintf("fetch %s/%d", t, p), err) })
		fs.EachRecord(func(r *kgo.Record) {
			if seen < n {
				emit(recordJSON(r))
				seen++
			}
		})
	}
}

func balancer(name string) kgo.GroupBalancer {
	switch name {
	case "range":
		return kgo.RangeBalancer()
	case "roundrobin":
		return kgo.RoundRobinBalancer()
	case "sticky":
		return kgo.StickyBalancer()
	}
	return kgo.CooperativeStickyBalancer()
}

func assignedJSON(m map[string][]int32) [][]any {
	out := [][]any{}
	for t, ps := range m {
		for _, p := range ps {
			out = append(out, []any{t, p})
		}
	}
	return out
}

// group is a member that reports each assignment change and every record it reads, committing
// after each poll, until stdin says "close" (then it leaves the group).
func group(bootstrap, groupID, topic, balancerName string) {
	var mu sync.Mutex
	owned := map[string]map[int32]bool{}
	report := func() {
		all := map[string][]int32{}
		for t, ps := range owned {
			for p := range ps {
				all[t] = append(all[t], p)
			}
			sort.Slice(all[t], func(i, j int) bool { return all[t][i] < all[t][j] })
		}
		emit(map[string]any{"assigned": assignedJSON(all)})
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.ConsumerGroup(groupID), kgo.ConsumeTopics(topic),
		kgo.Balancers(balancer(balancerName)), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(10*time.Second), kgo.HeartbeatInterval(500*time.Millisecond),
		kgo.MetadataMaxAge(2*time.Second), kgo.MetadataMinAge(250*time.Millisecond), kgo.DisableAutoCommit(),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			mu.Lock()
			defer mu.Unlock()
			for t, ps := range m {
				if owned[t] == nil {
					owned[t] = map[int32]bool{}
				}
				for _, p := range ps {
					owned[t][p] = true
				}
			}
			report()
		}),
		kgo.OnPartitionsRevoked(func(ctx context.Context, c *kgo.Client, m map[string][]int32) {
			if err := c.CommitUncommittedOffsets(ctx); err != nil {
				emit(map[string]any{"commit_error": err.Error()})
			}
			mu.Lock()
			defer mu.Unlock()
			for t, ps := range m {
				for _, p := range ps {
					delete(owned[t], p)
				}
			}
			report()
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			mu.Lock()
			defer mu.Unlock()
			for t, ps := range m {
				for _, p := range ps {
					delete(owned[t], p)
				}
			}
			report()
		}))
	if err != nil {
		fail("client", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() && sc.Text() != "close" {
		}
		cancel()
	}()
	emit(map[string]any{"started": true})
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachError(func(t string, p int32, err error) {
			if ctx.Err() == nil {
				emit(map[string]any{"fetch_error": fmt.Sprintf("%s/%d: %v", t, p, err)})
			}
		})
		fs.EachRecord(func(r *kgo.Record) { emit(map[string]any{"record": recordJSON(r)}) })
		if !fs.Empty() {
			if err := cl.CommitUncommittedOffsets(context.Background()); err != nil {
				emit(map[string]any{"commit_error": err.Error()})
			}
		}
	}
	cl.Close() // leaves the group
	emit(map[string]any{"closed": true})
}
