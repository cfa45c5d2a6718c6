import { type Server, type Socket, createServer } from 'node:net';

/**
 * A broker that breaks MQTT 5 on purpose, for the tests that check the reader does not trust its
 * peer: it accepts any CONNECT and SUBSCRIBE, then sends `flood` QoS 1 messages at once, ignoring
 * the receive maximum the client gave. Packets are written by hand (MQTT 5, section 3); on
 * loopback, on a port the kernel picks.
 */
export interface HostileBroker {
  readonly url: string;
  /** PUBACKs the client sent. */
  readonly pubacks: number;
  close(): Promise<void>;
}

export async function startHostileBroker(flood: number): Promise<HostileBroker> {
  let pubacks = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffered = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      for (let packet = nextPacket(buffered); packet !== undefined; packet = nextPacket(buffered)) {
        buffered = buffered.subarray(packet.length);
        const type = packet.first >> 4;
        if (type === 1) socket.write(Buffer.from([0x20, 0x03, 0x00, 0x00, 0x00])); // CONNACK: accepted
        if (type === 4) pubacks += 1;
        if (type === 8) {
          // SUBACK for one filter at QoS 1, then the flood.
          socket.write(Buffer.from([0x90, 0x04, packet.body[0] ?? 0, packet.body[1] ?? 0, 0x00, 0x01]));
          for (let id = 1; id <= flood; id++) socket.write(publish(id, 'h/flood', `m${id}`));
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address !== 'object') throw new Error('no port');
  return {
    url: `mqtt://127.0.0.1:${address.port}`,
    get pubacks() {
      return pubacks;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A QoS 1 PUBLISH: topic, packet id, no properties, payload. */
function publish(id: number, topic: string, payload: string): Buffer {
  const name = Buffer.from(topic, 'utf8');
  const body = Buffer.concat([
    Buffer.from([name.length >> 8, name.length & 0xff]),
    name,
    Buffer.from([id >> 8, id & 0xff, 0x00]),
    Buffer.from(payload, 'utf8'),
  ]);
  return Buffer.concat([Buffer.from([0x32]), remainingLength(body.length), body]);
}

function remainingLength(n: number): Buffer {
  const bytes: number[] = [];
  let rest = n;
  do {
    let byte = rest % 128;
    rest = Math.floor(rest / 128);
    if (rest > 0) byte |= 0x80;
    bytes.push(byte);
  } while (rest > 0);
  return Buffer.from(bytes);
}

/** The first whole packet in `data`, if there is one. */
function nextPacket(data: Buffer): { first: number; body: Buffer; length: number } | undefined {
  let length = 0;
  let multiplier = 1;
  for (let i = 1; i < Math.min(data.length, 5); i++) {
    const byte = data[i] ?? 0;
    length += (byte & 0x7f) * multiplier;
    multiplier *= 128;
    if ((byte & 0x80) === 0) {
      const end = i + 1 + length;
      if (data.length < end) return undefined;
      return { first: data[0] ?? 0, body: data.subarray(i + 1, end), length: end };
    }
  }
  return undefined;
}
