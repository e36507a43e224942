// The official Node.js clients against the emulator: create a queue, a task and a job, read
// them back, let the task go (the queue is paused until then) and run the job, and print what
// the emulator answered as one JSON document.
//
//   node clients.cjs grpc|rest HOST PORT PARENT WORKER_URL SUFFIX
//
// grpc: grpc-js on an insecure channel. rest: the clients' REST fallback (HTTP/1.1 + JSON) over
// plain http. Neither looks up credentials: PassThroughClient is google-auth-library's client
// for emulators.
'use strict';

const {CloudTasksClient} = require('@google-cloud/tasks');
const {CloudSchedulerClient} = require('@google-cloud/scheduler');

// The google-gax and google-auth-library the clients themselves use, not copies of our own.
const fromTasks = {paths: [require.resolve('@google-cloud/tasks')]};
const gax = require(require.resolve('google-gax', fromTasks));
const {PassThroughClient} = require(require.resolve('google-auth-library', fromTasks));

async function main() {
  const [mode, host, port, parent, workerUrl, suffix] = process.argv.slice(2);
  const options = {servicePath: host, port: Number(port), authClient: new PassThroughClient()};
  if (mode === 'grpc') {
    options.sslCreds = gax.grpc.credentials.createInsecure();
  } else {
    Object.assign(options, {fallback: true, protocol: 'http'});
  }
  const tasks = new CloudTasksClient(options);
  const scheduler = new CloudSchedulerClient(options);

  const queueName = `${parent}/queues/node-${suffix}`;
  const [queue] = await tasks.createQueue({
    parent,
    queue: {name: queueName, retryConfig: {maxAttempts: 3, minBackoff: {nanos: 500000000}}},
  });
  await tasks.pauseQueue({name: queueName});
  const [task] = await tasks.createTask({
    parent: queueName,
    task: {
      name: `${queueName}/tasks/t-${suffix}`,
      httpRequest: {
        url: `${workerUrl}/task`,
        httpMethod: 'PUT',
        headers: {'X-Client': `node-${mode}`},
        body: Buffer.from(`task over ${mode}`),
      },
    },
  });
  const [readQueue] = await tasks.getQueue({name: queueName});
  const [readTask] = await tasks.getTask({name: task.name, responseView: 'FULL'});
  const [queues] = await tasks.listQueues({parent});
  await tasks.resumeQueue({name: queueName});

  const [job] = await scheduler.createJob({
    parent,
    job: {
      name: `${parent}/jobs/node-${suffix}`,
      schedule: '0 7 * * *',
      timeZone: 'Asia/Kolkata',
      httpTarget: {uri: `${workerUrl}/job`, httpMethod: 'POST', body: Buffer.from(`job over ${mode}`)},
    },
  });
  const [readJob] = await scheduler.getJob({name: job.name});
  const [jobs] = await scheduler.listJobs({parent});
  await scheduler.runJob({name: job.name});

  let missing = null;
  try {
    await tasks.getQueue({name: `${parent}/queues/missing-${suffix}`});
  } catch (error) {
    missing = {code: error.code, message: error.message};
  }
  await tasks.close();
  await scheduler.close();

  const seen = (message) => ({...message, body: message.body && Buffer.from(message.body).toString()});
  console.log(JSON.stringify({
    queue: {name: queue.name, state: readQueue.state, maxAttempts: readQueue.retryConfig.maxAttempts},
    created: queue.state,
    task: {name: readTask.name, view: readTask.view, httpRequest: seen(readTask.httpRequest)},
    queues: queues.map((each) => each.name),
    job: {name: readJob.name, state: readJob.state, scheduleTime: readJob.scheduleTime, httpTarget: seen(readJob.httpTarget)},
    jobs: jobs.map((each) => each.name),
    missing,
  }));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
