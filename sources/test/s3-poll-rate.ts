/**
 * How fast the S3 poller turns new objects into events, against versitygw on this machine: run
 * by hand (`node sources/dist/test/s3-poll-rate.js [objects]`), not by mocha. It uploads the
 * objects, times raw ListObjectsV2 and HeadObject over them, then one poll that finds them all new
 * (a HeadObject and a store each; the sink is in memory, the checkpoint in memory and then in
 * Redis), with the CPU this process spent on it per event.
 */
import { HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { MemoryCheckpointStore, RedisCheckpointStore, RedisConnection } from '@nimbus/store';
import { startRedisServer, startS3Server } from '@nimbus/testkit';
import type { SourceCheckpoint } from '../src/source.js';
import { MapSecrets, Pollers, Uploader, s3Trigger } from './s3-fixture.js';

const objects = Number(process.argv[2] ?? 5_000);
const s3 = await startS3Server();
const redis = await startRedisServer();
const connection = new RedisConnection({ url: redis.url });
const uploader = new Uploader(s3);
const secrets = MapSecrets.forServer(s3);
const pollers = new Pollers();
const rate = (n: number, ms: number) => `${Math.round((n / ms) * 1000)}/s`;
const cpuPer = (since: NodeJS.CpuUsage, n: number) => {
  const used = process.cpuUsage(since);
  return `${Math.round((used.user + used.system) / n)} µs CPU each`;
};
/** Runs work(0..n-1), 16 at a time. */
async function runAll(n: number, work: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < n) await work(next++);
    }),
  );
}

try {
  for (const [name, checkpoint] of [
    ['memory', new MemoryCheckpointStore().checkpoint('bench/poll/memory')],
    ['redis', new RedisCheckpointStore(connection).checkpoint('bench/poll/redis')],
  ] as [string, SourceCheckpoint][]) {
    const bucket = `bench-${name}`;
    await uploader.bucket(bucket);
    const made = pollers.make(s3Trigger({ endpoint: s3.endpoint, bucket, mode: 'poll' }), checkpoint, {
      secrets,
    });
    await made.reader.poll(); // the empty bucket, taken in
    let started = Date.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < objects) {
          const i = next++;
          await uploader.put(bucket, `obj/${String(i).padStart(6, '0')}.bin`, `body ${i}`);
        }
      }),
    );
    console.log(
      `${name}: uploaded ${objects} objects in ${Date.now() - started} ms (${rate(objects, Date.now() - started)})`,
    );
    if (name === 'memory') {
      for (let round = 0; round < 3; round++) {
        started = Date.now();
        const cpu = process.cpuUsage();
        let listed = 0;
        let pages = 0;
        let token: string | undefined;
        do {
          const page = await uploader.client.send(
            new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }),
          );
          listed += page.KeyCount ?? 0;
          pages++;
          token = page.IsTruncated ? page.NextContinuationToken : undefined;
        } while (token !== undefined);
        const ms = Date.now() - started;
        console.log(
          `raw ListObjectsV2: ${listed} keys in ${pages} pages, ${ms} ms (${rate(listed, ms)} keys, ${cpuPer(cpu, listed)} per key)`,
        );
      }
    }
    if (name === 'memory') {
      started = Date.now();
      const cpu = process.cpuUsage();
      await runAll(objects, (i) =>
        uploader.client.send(
          new HeadObjectCommand({ Bucket: bucket, Key: `obj/${String(i).padStart(6, '0')}.bin` }),
        ),
      );
      const ms = Date.now() - started;
      console.log(
        `raw HeadObject, 16 at once: ${objects} in ${ms} ms (${rate(objects, ms)}, ${cpuPer(cpu, objects)})`,
      );
    }
    started = Date.now();
    const cpu = process.cpuUsage();
    await made.reader.poll();
    const ms = Date.now() - started;
    console.log(
      `${name}: poll stored ${made.sink.stored.length} events in ${ms} ms (${rate(made.sink.stored.length, ms)}, ${cpuPer(cpu, objects)})`,
    );
    started = Date.now();
    await made.reader.poll();
    console.log(`${name}: a poll with nothing new over ${objects} objects: ${Date.now() - started} ms`);
  }
} finally {
  await pollers.stopAll();
  uploader.close();
  await connection.close();
  await redis.stop();
  await s3.stop();
}
