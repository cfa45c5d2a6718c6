// Reads a CloudEvent, in binary mode (ce-* headers) or structured mode
// (content-type: application/cloudevents+json), and answers with what it understood.
export default async function (event, ctx) {
  const ce = event.cloudEvent;
  if (ce === undefined) {
    return {
      statusCode: 400,
      body: { error: 'expected a CloudEvent (ce-* headers or application/cloudevents+json)' },
    };
  }
  ctx.log.info('order event', { id: ce.id, type: ce.type });
  return { received: ce.id, type: ce.type, source: ce.source, order: ce.data };
}
