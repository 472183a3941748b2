// An independent 2025-11-25 client: the TypeScript MCP SDK, driving veo-mcp's generate_video as native MCP tasks
// over stdio (client.experimental.tasks.callToolStream). Prints one JSON object with everything it saw.
//
// Usage: node ts_tasks_client.mjs '<json config>'
//   config: {command, args, env, costly: {...arguments}, cheap: {...arguments}, batch: {...arguments}, ttl: ms}
// Scenarios, in order: a costly call declined by the user (no task may appear), a cheap call cancelled right after
// its task was created, then a cheap call followed to its final result, then a generate_batch call followed to its
// final result; then tasks/list and an unknown task id.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import {
  CallToolResultSchema,
  ElicitRequestSchema,
  TaskStatusNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";

const config = JSON.parse(process.argv[2]);
const seen = { asked: [], notifications: [], runs: {} };

const client = new Client({ name: "veo-mcp-ts-test", version: "1.0.0" }, { capabilities: { elicitation: {} } });
client.setRequestHandler(ElicitRequestSchema, async (request) => {
  seen.asked.push(request.params.message);
  return { action: "decline" };
});
client.setNotificationHandler(TaskStatusNotificationSchema, async (notification) => {
  seen.notifications.push(notification.params);
});

async function run(name, args, options, onCreated, tool = "generate_video") {
  const messages = [];
  const stream = client.experimental.tasks.callToolStream(
    { name: tool, arguments: args },
    CallToolResultSchema,
    options,
  );
  for await (const message of stream) {
    if (message.type === "error") {
      messages.push({ type: "error", code: message.error.code, message: message.error.message });
    } else {
      messages.push(message);
    }
    if (message.type === "taskCreated" && onCreated) {
      await onCreated(message.task);
    }
  }
  seen.runs[name] = messages;
}

const transport = new StdioClientTransport({
  command: config.command,
  args: config.args,
  env: config.env,
  stderr: "inherit",
});
await client.connect(transport);
try {
  seen.serverTasks = client.getServerCapabilities()?.tasks ?? null;
  const tools = await client.listTools();
  seen.execution = tools.tools.find((tool) => tool.name === "generate_video")?.execution ?? null;
  seen.batchExecution = tools.tools.find((tool) => tool.name === "generate_batch")?.execution ?? null;

  await run("declined", config.costly, { task: { ttl: config.ttl } });
  seen.tasksAfterDecline = (await client.experimental.tasks.listTasks()).tasks.length;

  await run("cancelled", config.cheap, { task: { ttl: config.ttl } }, async (task) => {
    seen.cancel = await client.experimental.tasks.cancelTask(task.taskId);
  });
  await run("followed", { ...config.cheap, prompt: `${config.cheap.prompt}, again` }, { task: { ttl: config.ttl } });
  await run("batch", config.batch, { task: { ttl: config.ttl } }, undefined, "generate_batch");

  seen.listed = (await client.experimental.tasks.listTasks()).tasks;
  try {
    await client.experimental.tasks.getTask("no-such-task");
    seen.unknown = null;
  } catch (error) {
    seen.unknown = { code: error.code, message: error.message };
  }
} finally {
  await client.close();
}
process.stdout.write(JSON.stringify(seen) + "\n");
