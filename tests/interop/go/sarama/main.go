// sarama: the interop suite's IBM/sarama driver (tests/interop/test_go_clients.py). JSON lines
// on stdout, as the franz driver.
//
//	sarama roundtrip BOOTSTRAP TOPIC COUNT CODEC  idempotent acks=all SyncProducer, then a partition consumer
//	sarama group     BOOTSTRAP GROUP TOPIC STRATEGY a ConsumerGroup member until stdin says "close"
//	sarama admin     BOOTSTRAP TOPIC GROUP        ClusterAdmin: create, describe, configs, partitions, groups, delete
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/IBM/sarama"
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

func config() *sarama.Config {
	c := sarama.NewConfig()
	c.Version = sarama.V3_9_0_0
	c.ClientID = "sarama-interop"
	c.Metadata.RefreshFrequency = 2 * time.Second
	return c
}

func main() {
	if len(os.Args) < 5 {
		fmt.Fprintln(os.Stderr, "usage: sarama roundtrip|group|admin BOOTSTRAP ...")
		os.Exit(2)
	}
	b := []string{os.Args[2]}
	switch os.Args[1] {
	case "roundtrip":
		n, _ := strconv.Atoi(os.Args[4])
		roundtrip(b, os.Args[3], n, os.Args[5])
	case "group":
		group(b, os.Args[3], os.Args[4], os.Args[5])
	case "admin":
		admin(b, os.Args[3], os.Args[4])
	default:
		fmt.Fprintln(os.Stderr, "unknown subcommand", os.Args[1])
		os.Exit(2)
	}
}

func codec(name string) sarama.CompressionCodec {
	switch name {
	case "gzip":
		return sarama.CompressionGZIP
	case "snappy":
		return sarama.CompressionSnappy
	case "lz4":
		return sarama.CompressionLZ4
	case "zstd":
		return sarama.CompressionZSTD
	}
	return sarama.CompressionNone
}

func roundtrip(brokers []string, topic string, n int, codecName string) {
	c := config()
	c.Producer.Return.Successes = true
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Idempotent = true
	c.Net.MaxOpenRequests = 1
	c.Producer.Compression = codec(codecName)
	c.Producer.Partitioner = sarama.NewManualPartitioner
	p, err := sarama.NewSyncProducer(brokers, c)
	if err != nil {
		fail("producer", err)
	}
	msgs := make([]*sarama.ProducerMessage, n)
	for i := range msgs {
		msgs[i] = &sarama.ProducerMessage{Topic: topic, Partition: int32(i % 2),
			Key: sarama.StringEncoder(fmt.Sprintf("k-%d", i)), Value: sarama.StringEncoder(fmt.Sprintf("sarama-%d", i)),
			Headers: []sarama.RecordHeader{{Key: []byte("i"), Value: []byte(strconv.Itoa(i))}}}
	}
	if err := p.SendMessages(msgs); err != nil {
		fail("send", err)
	}
	for _, m := range msgs {
		emit(map[string]any{"produced": map[string]any{"partition": m.Partition, "offset": m.Offset}})
	}
	p.Close()

	consumer, err := sarama.NewConsumer(brokers, config())
	if err != nil {
		fail("consumer", err)
	}
	defer consumer.Close()
	for part := int32(0); part < 2; part++ {
		pc, err := consumer.ConsumePartition(topic, part, sarama.OffsetOldest)
		if err != nil {
			fail("consume partition", err)
		}
		want := (n + 1 - int(part)) / 2
		for got := 0; got < want; got++ {
			select {
			case m := <-pc.Messages():
				emit(map[string]any{"consumed": messageJSON(m)})
			case err := <-pc.Errors():
				fail("consume", err)
			case <-time.After(30 * time.Second):
				fail("consume", errors.New("timed out"))
			}
		}
		pc.Close()
	}
}

func messageJSON(m *sarama.ConsumerMessage) map[string]any {
	headers := [][]string{}
	for _, h := range m.Headers {
		headers = append(headers, []string{string(h.Key), string(h.Value)})
	}
	return map[string]any{"topic": m.Topic, "partition": m.Partition, "offset": m.Offset,
		"key": string(m.Key), "value": string(m.Value), "headers": headers}
}

type handler struct{}

func (handler) Setup(s sarama.ConsumerGroupSession) error {
	out := [][]any{}
	for t, ps := range s.Claims() {
		sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
		for _, p := range ps {
			out = append(out, []any{t, p})
		}
	}
	emit(map[string]any{"assigned": out, "generation": s.GenerationID()})
	return nil
}

func (handler) Cleanup(sarama.ConsumerGroupSession) error {
	emit(map[string]any{"assigned": [][]any{}})
	return nil
}

func (handler) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for m := range claim.Messages() {
		emit(map[string]any{"record": messageJSON(m)})
		s.MarkMessage(m, "")
	}
	return nil
}

func group(brokers []string, groupID, topic, strategy string) {
	c := config()
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Consumer.Group.Session.Timeout = 10 * time.Second
	c.Consumer.Group.Heartbeat.Interval = 500 * time.Millisecond
	switch strategy {
	case "roundrobin":
		c.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRoundRobin()}
	case "sticky":
		c.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategySticky()}
	default:
		c.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRange()}
	}
	cg, err := sarama.NewConsumerGroup(brokers, groupID, c)
	if err != nil {
		fail("group", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() && sc.Text() != "close" {
		}
		cancel()
	}()
	go func() {
		for err := range cg.Errors() {
			emit(map[string]any{"group_error": err.Error()})
		}
	}()
	emit(map[string]any{"started": true})
	for ctx.Err() == nil {
		if err := cg.Consume(ctx, []string{topic}, handler{}); err != nil && ctx.Err() == nil {
			emit(map[string]any{"consume_error": err.Error()})
			time.Sleep(200 * time.Millisecond) // a failed join: retry as sarama's examples do
		}
	}
	if err := cg.Close(); err != nil {
		emit(map[string]any{"close_error": err.Error()})
	}
	emit(map[string]any{"closed": true})
}
