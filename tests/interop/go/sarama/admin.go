package main

import (
	"time"

	"github.com/IBM/sarama"
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

// admin runs ClusterAdmin's operations in a fixed order, one JSON line per step.
func admin(brokers []string, topic, groupID string) {
	c := config()
	adm, err := sarama.NewClusterAdmin(brokers, c)
	if err != nil {
		fail("admin", err)
	}
	defer adm.Close()

	bs, controller, err := adm.DescribeCluster()
	ids := []int32{}
	for _, b := range bs {
		ids = append(ids, b.ID())
	}
	emit(map[string]any{"step": "cluster", "brokers": ids, "controller": controller, "error": errText(err)})

	err = adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1,
		ConfigEntries: map[string]*string{"cleanup.policy": strp("compact")}}, false)
	emit(map[string]any{"step": "create", "error": errText(err)})
	err = adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1}, false)
	emit(map[string]any{"step": "create_again", "error": errText(err)})

	md, err := adm.DescribeTopics([]string{topic})
	parts := -1
	if len(md) == 1 {
		parts = len(md[0].Partitions)
	}
	emit(map[string]any{"step": "describe", "error": errText(err), "partitions": parts})

	entries, err := adm.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic})
	policy := ""
	for _, e := range entries {
		if e.Name == "cleanup.policy" {
			policy = e.Value
		}
	}
	emit(map[string]any{"step": "describe_config", "error": errText(err), "cleanup.policy": policy})

	err = adm.IncrementalAlterConfig(sarama.TopicResource, topic, map[string]sarama.IncrementalAlterConfigsEntry{
		"retention.ms": {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: strp("5000000")}}, false)
	retention := ""
	until(func() bool {
		entries, _ = adm.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic, ConfigNames: []string{"retention.ms"}})
		for _, e := range entries {
			if e.Name == "retention.ms" {
				retention = e.Value
			}
		}
		return retention == "5000000"
	})
	emit(map[string]any{"step": "incremental_alter", "error": errText(err), "retention.ms": retention})

	err = adm.CreatePartitions(topic, 4, nil, false)
	until(func() bool {
		md, _ = adm.DescribeTopics([]string{topic})
		parts = -1
		if len(md) == 1 {
			parts = len(md[0].Partitions)
		}
		return parts == 4
	})
	emit(map[string]any{"step": "create_partitions", "error": errText(err), "partitions": parts})
	err = adm.CreatePartitions(topic, 3, nil, false)
	emit(map[string]any{"step": "shrink_partitions", "error": errText(err)})

	groups, err := adm.ListConsumerGroups()
	_, listed := groups[groupID]
	emit(map[string]any{"step": "list_groups", "error": errText(err), "listed": listed})
	if listed {
		gd, err := adm.DescribeConsumerGroups([]string{groupID})
		state, members := "", 0
		if len(gd) == 1 {
			state, members = gd[0].State, len(gd[0].Members)
		}
		emit(map[string]any{"step": "describe_group", "error": errText(err), "state": state, "members": members})
		off, err := adm.ListConsumerGroupOffsets(groupID, nil)
		total := int64(0)
		if err == nil {
			for _, ps := range off.Blocks {
				for _, b := range ps {
					if b.Offset > 0 {
						total += b.Offset
					}
				}
			}
		}
		emit(map[string]any{"step": "group_offsets", "error": errText(err), "sum": total})
		err = adm.DeleteConsumerGroup(groupID)
		emit(map[string]any{"step": "delete_group", "error": errText(err)})
	}

	err = adm.DeleteTopic(topic)
	emit(map[string]any{"step": "delete", "error": errText(err)})
	err = adm.DeleteTopic(topic)
	emit(map[string]any{"step": "delete_again", "error": errText(err)})
}
