/**
 * `berth`: Docker's verbs, flags and output over the Engine API. `--version`
 * answers before anything is loaded; every command module loads lazily.
 */
import { join } from 'node:path';
import { BERTH_VERSION } from '../config';

const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v')) {
  process.stdout.write(`Berth version ${BERTH_VERSION}\n`);
  process.exit(0);
}

/** pflag accepts `--flag=false`; commander wants `--no-flag` or nothing. */
function normalizeArgv(args: string[]): string[] {
  const outArgs: string[] = [];
  let passthrough = false;
  for (const a of args) {
    if (passthrough || a === '--') {
      passthrough = true;
      outArgs.push(a);
      continue;
    }
    const m = /^--([a-z][\w-]*)=(true|false)$/.exec(a);
    if (m && ['rm', 'detach', 'interactive', 'tty', 'init', 'privileged', 'read-only', 'all', 'force', 'quiet', 'pause', 'no-trunc'].includes(m[1])) {
      if (m[2] === 'true') outArgs.push(`--${m[1]}`);
      continue;
    }
    outArgs.push(a);
  }
  return outArgs;
}

async function main(all = false): Promise<number> {
  const { Command, Option } = await import('commander');
  const { collect, ExitError, daemonError } = await import('./util');
  let exitCode = 0;
  const args = normalizeArgv(process.argv.slice(0, 2).concat(aliasArgv(argv)));
  // Defining all ~70 commands costs ~15 ms of every run; only the invoked one is needed. Help
  // (no command word) and unknown commands (commander suggests names) get them all.
  const word = args.slice(2).find((a) => !a.startsWith('-'));
  const only = all || word === undefined || word === 'help' ? undefined : word;
  let matched = false;
  type Cmd = InstanceType<typeof Command>;
  // Stands in for a command that is not defined: every chained call is a no-op.
  const sink: Cmd = new Proxy(() => undefined, { get: (_t, k) => (k === 'then' ? undefined : sink), apply: () => sink }) as unknown as Cmd;
  const program = new Command('berth');
  const top = (name: string): Cmd => {
    if (only !== undefined && name !== only) return sink;
    matched = true;
    return program.command(name);
  };
  program
    .description('Berth: a Docker-compatible container engine')
    .version(`Berth version ${BERTH_VERSION}`, '-v, --version')
    .enablePositionalOptions()
    .showHelpAfterError()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  const C = () => import('./commands/container');
  const I = () => import('./commands/image');
  const S = () => import('./commands/system');
  const set = (p: Promise<number | void>) =>
    p.then((c) => {
      exitCode = typeof c === 'number' ? c : 0;
    });

  const runOptions = (cmd: InstanceType<typeof Command>) =>
    cmd
      .option('-d, --detach', 'Run container in background and print container ID')
      .option('--detach-keys <keys>', 'Override the key sequence for detaching a container (default ctrl-p,ctrl-q)')
      .option('-i, --interactive', 'Keep STDIN open even if not attached')
      .option('-t, --tty', 'Allocate a pseudo-TTY')
      .option('--rm', 'Automatically remove the container when it exits')
      .option('--name <name>', 'Assign a name to the container')
      .option('-e, --env <list>', 'Set environment variables', collect)
      .option('--env-file <file>', 'Read in a file of environment variables', collect)
      .option('-w, --workdir <dir>', 'Working directory inside the container')
      .option('-u, --user <user>', 'Username or UID (format: <name|uid>[:<group|gid>])')
      .option('-h, --hostname <name>', 'Container host name')
      .option('--entrypoint <cmd>', 'Overwrite the default ENTRYPOINT of the image')
      .option('-m, --memory <bytes>', 'Memory limit')
      .option('--memory-swap <bytes>', "Swap limit equal to memory plus swap: '-1' to enable unlimited swap")
      .option('--cpus <n>', 'Number of CPUs')
      .option('-c, --cpu-shares <n>', 'CPU shares (relative weight)')
      .option('--pids-limit <n>', 'Tune container pids limit (set -1 for unlimited)')
      .option('--read-only', "Mount the container's root filesystem as read only")
      .option('-l, --label <list>', 'Set meta data on a container', collect)
      .option('--network <mode>', 'Connect a container to a network (none, host)')
      .option('--net <mode>', 'Alias of --network')
      .option('--init', 'Run an init inside the container that forwards signals and reaps processes')
      .option('--stop-signal <signal>', 'Signal to stop the container')
      .option('--stop-timeout <seconds>', 'Timeout (in seconds) to stop a container')
      .option('--health-cmd <command>', 'Command to run to check health')
      .option('--health-interval <duration>', 'Time between running the check (ms|s|m|h)')
      .option('--health-timeout <duration>', 'Maximum time to allow one check to run (ms|s|m|h)')
      .option('--health-start-period <duration>', 'Start period for the container to initialize before starting health-retries countdown (ms|s|m|h)')
      .option('--health-start-interval <duration>', 'Time between running the check during the start period (ms|s|m|h)')
      .option('--health-retries <n>', 'Consecutive failures needed to report unhealthy')
      .option('--no-healthcheck', 'Disable any container-specified HEALTHCHECK')
      .option('--privileged', 'Give extended privileges to this container')
      .option('--cap-add <cap>', 'Add Linux capabilities', collect)
      .option('--device <spec>', 'Add a host device to the container (host[:container][:perms])', collect)
      .option('--oom-score-adj <n>', "Tune host's OOM preferences (-1000 to 1000)")
      .option('--oom-kill-disable', 'Disable OOM Killer')
      .option('--cidfile <file>', 'Write the container ID to the file')
      .option('--mac-address <mac>', 'Container MAC address (e.g., 92:d0:c6:0a:29:33)')
      .option('--link <name[:alias]>', 'Add link to another container', collect)
      .option('--pull <policy>', 'Pull image before running ("always", "missing", "never")')
      .option('--platform <platform>', 'Set platform if server is multi-platform capable')
      .option('-q, --quiet', 'Suppress the pull output')
      .option('--cap-drop <cap>', 'Drop Linux capabilities', collect)
      .option('--security-opt <opt>', 'Security Options', collect)
      .option('--restart <policy>', 'Restart policy to apply when a container exits', 'no')
      .option('--tmpfs <mount>', 'Mount a tmpfs directory', collect)
      .option('--shm-size <bytes>', 'Size of /dev/shm')
      .option('--add-host <host:ip>', 'Add a custom host-to-IP mapping', collect)
      .option('--group-add <group>', 'Add additional groups to join', collect)
      .option('--log-opt <opt>', 'Log driver options (max-size, max-file)', collect)
      .option('--sysctl <k=v>', 'Sysctl options', collect)
      .option('--ulimit <limit>', 'Ulimit options', collect)
      .option('--pid <mode>', 'PID namespace to use')
      .option('--ipc <mode>', 'IPC mode to use')
      .option('--uts <mode>', 'UTS namespace to use')
      .option('--expose <port>', 'Expose a port', collect)
      .option('-v, --volume <spec>', 'Bind mount a volume ([src:]dst[:opts])', collect)
      .option('--mount <spec>', 'Attach a filesystem mount to the container (type=bind|volume|tmpfs,...)', collect)
      .option('--volumes-from <container>', 'Mount volumes from the specified container(s)', collect)
      .option('-p, --publish <spec>', "Publish a container's port(s) to the host", collect)
      .option('-P, --publish-all', 'Publish all exposed ports to random ports')
      .option('--network-alias <alias>', 'Add network-scoped alias for the container', collect)
      .option('--ip <address>', 'IPv4 address (e.g., 172.30.100.104)')
      .option('--dns <ip>', 'Set custom DNS servers', collect)
      .option('--dns-search <domain>', 'Set custom DNS search domains', collect)
      .option('--dns-option <opt>', 'Set DNS options', collect)
      .addOption(new Option('--log-driver <driver>').hideHelp())
      .argument('<image>')
      .argument('[command...]')
      .passThroughOptions();
  const withNet = (o: Record<string, unknown>) => ({ ...o, network: (o.network ?? o.net) as string | undefined });

  runOptions(top('run').description('Create and run a new container from an image')).action((image: string, command: string[], o) =>
    set(C().then((m) => m.run(image, command, withNet(o)))),
  );
  runOptions(top('create').description('Create a new container')).action((image: string, command: string[], o) =>
    set(C().then((m) => m.create(image, command, withNet(o)))),
  );
  top('start').argument('<containers...>').option('-a, --attach', 'Attach STDOUT/STDERR').option('-i, --interactive', 'Attach STDIN').option('--detach-keys <keys>', 'Override the key sequence for detaching a container').description('Start one or more stopped containers').action((ids: string[], o) => set(C().then((m) => m.start(ids, o))));
  top('stop').argument('<containers...>').option('-t, --time <seconds>', 'Seconds to wait before killing the container').option('-s, --signal <signal>', 'Signal to send').description('Stop one or more running containers').action((ids: string[], o) => set(C().then((m) => m.stop(ids, o))));
  top('restart').argument('<containers...>').option('-t, --time <seconds>').description('Restart one or more containers').action((ids: string[], o) => set(C().then((m) => m.restart(ids, o))));
  top('kill').argument('<containers...>').option('-s, --signal <signal>', 'Signal to send to the container', 'KILL').description('Kill one or more running containers').action((ids: string[], o) => set(C().then((m) => m.kill(ids, o))));
  const rmCmd = (cmd: InstanceType<typeof Command>) =>
    cmd.argument('<containers...>').option('-f, --force', 'Force the removal of a running container').option('-v, --volumes', 'Remove anonymous volumes').description('Remove one or more containers').action((ids: string[], o) => set(C().then((m) => m.rm(ids, o))));
  rmCmd(top('rm'));
  top('pause').argument('<containers...>').description('Pause all processes within one or more containers').action((ids: string[]) => set(C().then((m) => m.simple('pause', ids))));
  top('unpause').argument('<containers...>').description('Unpause all processes within one or more containers').action((ids: string[]) => set(C().then((m) => m.simple('unpause', ids))));
  top('wait').argument('<containers...>').description('Block until containers stop, then print their exit codes').action((ids: string[]) => set(C().then((m) => m.wait(ids))));
  top('update')
    .argument('<containers...>')
    .option('-m, --memory <bytes>', 'Memory limit')
    .option('--memory-swap <bytes>', "Swap limit equal to memory plus swap: '-1' to enable unlimited swap")
    .option('--memory-reservation <bytes>', 'Memory soft limit')
    .option('--cpus <n>', 'Number of CPUs')
    .option('-c, --cpu-shares <n>', 'CPU shares (relative weight)')
    .option('--cpu-period <us>', 'Limit CPU CFS (Completely Fair Scheduler) period')
    .option('--cpu-quota <us>', 'Limit CPU CFS (Completely Fair Scheduler) quota')
    .option('--cpuset-cpus <list>', 'CPUs in which to allow execution (0-3, 0,1)')
    .option('--pids-limit <n>', 'Tune container pids limit (set -1 for unlimited)')
    .option('--restart <policy>', 'Restart policy to apply when a container exits')
    .option('--publish-add <spec>', 'Publish a port, also on a running container ([ip:][hostPort:]containerPort[/proto])', collect)
    .option('--publish-rm <spec>', 'Unpublish a port: a container port (80/tcp) or one mapping (8080:80)', collect)
    .description('Update configuration of one or more containers')
    .action((ids: string[], o) => set(C().then((m) => m.update(ids, o))));
  top('rename').argument('<container>').argument('<new-name>').description('Rename a container').action((a: string, b: string) => set(C().then((m) => m.rename(a, b))));
  const psCmd = (cmd: InstanceType<typeof Command>) =>
    cmd
      .option('-a, --all', 'Show all containers (default shows just running)')
      .option('-q, --quiet', 'Only display container IDs')
      .option('-n, --last <n>', 'Show n last created containers')
      .option('-l, --latest', 'Show the latest created container')
      .option('-f, --filter <filter>', 'Filter output based on conditions provided', collect)
      .option('--format <format>', 'Format output using a Go template, "table" or "json"')
      .option('--no-trunc', "Don't truncate output")
      .option('-s, --size', 'Display total file sizes')
      .description('List containers')
      .action((o) => set(C().then((m) => m.ps(o))));
  psCmd(top('ps'));
  program
    .command('logs')
    .argument('<container>')
    .option('-f, --follow', 'Follow log output')
    .option('-n, --tail <n>', 'Number of lines to show from the end of the logs', 'all')
    .option('-t, --timestamps', 'Show timestamps')
    .option('--since <time>', 'Show logs since timestamp or relative (e.g. 42m)')
    .option('--until <time>', 'Show logs before a timestamp or relative')
    .option('--details', 'Show extra details')
    .description('Fetch the logs of a container')
    .action((id: string, o) => set(C().then((m) => m.logs(id, o))));
  program
    .command('exec')
    .argument('<container>')
    .argument('[command...]')
    .option('-i, --interactive', 'Keep STDIN open even if not attached')
    .option('-t, --tty', 'Allocate a pseudo-TTY')
    .option('-d, --detach', 'Detached mode: run command in the background')
    .option('--detach-keys <keys>', 'Override the key sequence for detaching a container')
    .option('-e, --env <list>', 'Set environment variables', collect)
    .option('-w, --workdir <dir>', 'Working directory inside the container')
    .option('-u, --user <user>', 'Username or UID')
    .option('--privileged', 'Give extended privileges to the command')
    .passThroughOptions()
    .description('Execute a command in a running container')
    .action((id: string, command: string[], o) => set(C().then((m) => m.exec(id, command, o))));
  top('attach').argument('<container>').option('--no-stdin', 'Do not attach STDIN').option('--detach-keys <keys>', 'Override the key sequence for detaching a container').option('--sig-proxy', 'Proxy signals (ignored)').description('Attach local standard input, output, and error streams to a running container').action((id: string, o) => set(C().then((m) => m.attach(id, o))));
  top('inspect').argument('<names...>').option('-f, --format <format>', 'Format output using a Go template').option('--type <type>', 'Only inspect objects of the given type').option('-s, --size').description('Return low-level information on Docker objects').action((ids: string[], o) => set(C().then((m) => m.inspect(ids, o))));
  top('top').argument('<container>').argument('[ps-options...]').passThroughOptions().description('Display the running processes of a container').action((id: string, args: string[]) => set(C().then((m) => m.top(id, args))));
  top('diff').argument('<container>').description("Inspect changes to files or directories on a container's filesystem").action((id: string) => set(C().then((m) => m.diff(id))));
  top('export').argument('<container>').option('-o, --output <file>', 'Write to a file, instead of STDOUT').description("Export a container's filesystem as a tar archive").action((id: string, o) => set(C().then((m) => m.exportContainer(id, o))));
  top('commit').argument('<container>').argument('[repository[:tag]]').option('-m, --message <msg>', 'Commit message').option('-a, --author <author>', 'Author').option('-c, --change <instr>', 'Apply Dockerfile instruction to the created image', collect).option('-p, --pause', 'Pause container during commit', true).option('--no-pause').description("Create a new image from a container's changes").action((id: string, ref: string | undefined, o) => set(C().then((m) => m.commit(id, ref, o))));
  top('cp').argument('<src>').argument('<dest>').option('-a, --archive').option('-L, --follow-link').description('Copy files/folders between a container and the local filesystem').action((a: string, b: string) => set(C().then((m) => m.cp(a, b))));

  const container = top('container').description('Manage containers');
  runOptions(container.command('run')).action((image: string, command: string[], o) => set(C().then((m) => m.run(image, command, withNet(o)))));
  psCmd(container.command('ls').alias('list').alias('ps'));
  rmCmd(container.command('rm').alias('remove'));
  container.command('inspect').argument('<names...>').option('-f, --format <format>').action((ids: string[], o) => set(C().then((m) => m.inspect(ids, { ...o, type: 'container' }))));
  container.command('prune').option('-f, --force', 'Do not prompt for confirmation').description('Remove all stopped containers').action((o) => set(C().then((m) => m.prune(o))));

  top('images').argument('[repository]').option('-a, --all').option('-q, --quiet', 'Only show image IDs').option('--digests', 'Show digests').option('-f, --filter <filter>', 'Filter output', collect).option('--format <format>', 'Format output using a Go template').option('--no-trunc', "Don't truncate output").description('List images').action((repo: string | undefined, o) => set(I().then((m) => m.images(repo, o))));
  top('import').argument('<file|->').argument('[repository[:tag]]').option('-c, --change <instr>', 'Apply Dockerfile instruction to the created image', collect).option('-m, --message <msg>', 'Set commit message for imported image').option('--platform <platform>').description('Import the contents from a tarball to create a filesystem image').action((file: string, ref: string | undefined, o) => set(I().then((m) => m.importImage(file, ref, o))));
  top('tag').argument('<source>').argument('<target>').description('Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE').action((a: string, b: string) => set(I().then((m) => m.tag(a, b))));
  top('rmi').argument('<images...>').option('-f, --force', 'Force removal of the image').option('--no-prune', 'Do not delete untagged parents').description('Remove one or more images').action((names: string[], o) => set(I().then((m) => m.rmi(names, o))));
  top('history').argument('<image>').option('-q, --quiet').option('--no-trunc').option('-H, --human', '', true).option('--format <format>').description('Show the history of an image').action((name: string, o) => set(I().then((m) => m.history(name, o))));
  top('save').argument('<images...>').option('-o, --output <file>', 'Write to a file, instead of STDOUT').description('Save one or more images to a tar archive').action((names: string[], o) => set(I().then((m) => m.save(names, o))));
  top('load').option('-i, --input <file>', 'Read from tar archive file, instead of STDIN').option('-q, --quiet').description('Load an image from a tar archive or STDIN').action((o) => set(I().then((m) => m.load(o))));
  const image = top('image').description('Manage images');
  image.command('ls').alias('list').argument('[repository]').option('-a, --all').option('-q, --quiet').option('--digests').option('-f, --filter <filter>', '', collect).option('--format <format>').option('--no-trunc').action((repo: string | undefined, o) => set(I().then((m) => m.images(repo, o))));
  image.command('inspect').argument('<names...>').option('-f, --format <format>').action((ids: string[], o) => set(C().then((m) => m.inspect(ids, { ...o, type: 'image' }))));
  image.command('prune').option('-a, --all', 'Remove all unused images, not just dangling ones').option('-f, --force').description('Remove unused images').action((o) => set(I().then((m) => m.prune(o))));
  const B = () => import('./commands/build');
  const buildCmd = (cmd: InstanceType<typeof Command>) =>
    cmd
      .argument('<path>', 'Build context directory, or - for a tar (or a Dockerfile) on stdin')
      .option('-t, --tag <name:tag>', 'Name and optionally a tag in the name:tag format', collect)
      .option('-f, --file <path>', "Name of the Dockerfile (default: 'PATH/Dockerfile')")
      .option('--build-arg <k=v>', 'Set build-time variables', collect)
      .option('--target <stage>', 'Set the target build stage to build')
      .option('--no-cache', 'Do not use cache when building the image')
      .option('--label <k=v>', 'Set metadata for an image', collect)
      .option('-q, --quiet', 'Suppress the build output and print image ID on success')
      .option('--iidfile <file>', 'Write the image ID to the file')
      .option('--progress <type>', 'Set type of progress output (auto, plain)', 'auto')
      .option('--network <mode>', 'Networking mode for the RUN instructions during build (none, host)')
      .option('--secret <spec>', 'Secret to expose to RUN --mount=type=secret (id=mysecret[,src=/local/secret][,env=VAR])', collect)
      .option('--squash', "Squash the final stage's new layers into a single new layer")
      .option('-o, --output <spec>', 'Also write the result\'s files: DIR, - (tar on stdout), type=local,dest=DIR or type=tar,dest=FILE', collect)
      .addOption(new Option('--pull').hideHelp())
      .addOption(new Option('--rm').hideHelp())
      .addOption(new Option('--force-rm').hideHelp())
      .description('Build an image from a Dockerfile')
      .action((path: string, o) => set(B().then((m) => m.build(path, o))));
  buildCmd(top('build'));
  buildCmd(image.command('build'));
  const builder = top('builder').description('Manage builds');
  buildCmd(builder.command('build'));
  builder.command('prune').option('-a, --all', 'Remove all unused build cache').option('-f, --force', 'Do not prompt for confirmation').description('Remove build cache').action((o) => set(B().then((m) => m.prune(o))));

  const R = () => import('./commands/registry');
  top('pull').argument('<name>').option('--platform <platform>', 'Set platform if server is multi-platform capable').option('-q, --quiet', 'Suppress verbose output').description('Download an image from a registry').action((name: string, o) => set(R().then((m) => m.pull(name, o))));
  top('push').argument('<name>').option('-q, --quiet', 'Suppress verbose output').description('Upload an image to a registry').action((name: string, o) => set(R().then((m) => m.push(name, o))));
  top('search').argument('<term>').option('--limit <int>', 'Max number of search results').option('-f, --filter <filter>', 'Filter output based on conditions provided', collect).option('--format <string>', 'Pretty-print search using a Go template').option('--no-trunc', "Don't truncate output").description('Search registries for images').action((term: string, o) => set(R().then((m) => m.search(term, o))));
  top('login').argument('[server]').option('-u, --username <username>').option('-p, --password <password>').option('--password-stdin', 'Take the password from stdin').description('Log in to a registry').action((sv: string | undefined, o) => set(R().then((m) => m.login(sv, o))));
  top('logout').argument('[server]').description('Log out from a registry').action((sv: string | undefined) => set(R().then((m) => m.logout(sv))));
  const registry = top('registry').description('Run and maintain a Berth registry');
  // Storage flags shared by serve and gc; defaults live in the config resolver so a --config file is not overridden by them.
  const registryStorage = (c: InstanceType<typeof Command>) =>
    c
      .option('--config <file>', 'Config file in the distribution registry\'s format (YAML or JSON); flags override it')
      .option('--root <dir>', 'Filesystem storage directory (default /var/lib/berth-registry)')
      .option('--s3-bucket <name>', 'Store in this S3 bucket instead of a directory')
      .option('--s3-region <region>', 'S3 region (default us-east-1)')
      .option('--s3-endpoint <url>', 'S3-compatible endpoint, e.g. http://127.0.0.1:9000')
      .option('--s3-access-key <id>', 'S3 access key (default $AWS_ACCESS_KEY_ID)')
      .option('--s3-secret-key <secret>', 'S3 secret key (default $AWS_SECRET_ACCESS_KEY)')
      .option('--s3-force-path-style', 'Address the bucket as endpoint/bucket (most self-hosted S3 servers)')
      .option('--s3-prefix <prefix>', 'Key prefix inside the bucket');
  registryStorage(registry.command('serve'))
    .option('--addr <host:port>', 'Listen address (default 127.0.0.1:5000)')
    .option('-q, --quiet', 'No request log')
    .option('--log-format <format>', 'Request log format: combined or json')
    .option('--htpasswd <file>', 'Require basic auth from this htpasswd file (bcrypt entries)')
    .option('--auth-token-realm <url>', 'Token auth: the token server clients are sent to')
    .option('--auth-token-service <name>', 'Token auth: this registry\'s name (the tokens\' audience)')
    .option('--auth-token-issuer <name>', 'Token auth: the issuer tokens must name')
    .option('--auth-token-rootcertbundle <file>', 'Token auth: PEM certificates whose keys sign tokens')
    .option('--tls-cert <file>', 'Serve HTTPS with this certificate (PEM)')
    .option('--tls-key <file>', 'Private key for --tls-cert (PEM)')
    .description('Run an OCI registry in the foreground')
    .action((o) => set(R().then((m) => m.serve(o))));
  registryStorage(registry.command('gc')).option('--dry-run').description('Delete blobs no manifest references').action((o) => set(R().then((m) => m.gc(o))));
  top('stats').argument('[containers...]').option('-a, --all', 'Show all containers (default shows just running)').option('--format <format>', 'Format output using a Go template').option('--no-stream', 'Disable streaming stats and only pull the first result').option('--no-trunc', "Do not truncate output").description('Display a live stream of container(s) resource usage statistics').action((ids: string[], o) => set(import('./commands/stats').then((m) => m.stats(ids, o))));
  top('port').argument('<container>').argument('[private-port]').description('List port mappings or a specific mapping for the container').action((id: string, p: string | undefined) => set(C().then((m) => m.port(id, p))));
  const N = () => import('./commands/network');
  const network = top('network').description('Manage networks');
  network.command('create').argument('<name>').option('-d, --driver <driver>', 'Driver to manage the Network', 'bridge').option('--subnet <cidr>', 'Subnet in CIDR format').option('--gateway <ip>', 'IPv4 Gateway for the master subnet').option('--internal', 'Restrict external access to the network').option('--label <label>', 'Set metadata on a network', collect).option('-o, --opt <opt>', 'Set driver specific options', collect).description('Create a network').action((name: string, o) => set(N().then((m) => m.create(name, o))));
  network.command('ls').alias('list').option('-q, --quiet').option('-f, --filter <filter>', '', collect).option('--format <format>').option('--no-trunc').description('List networks').action((o) => set(N().then((m) => m.ls(o))));
  network.command('inspect').argument('<names...>').option('-f, --format <format>').description('Display detailed information on one or more networks').action((names: string[], o) => set(N().then((m) => m.inspect(names, o))));
  network.command('rm').alias('remove').argument('<names...>').option('-f, --force').description('Remove one or more networks').action((names: string[]) => set(N().then((m) => m.rm(names))));
  network.command('prune').option('-f, --force').description('Remove all unused networks').action(() => set(N().then((m) => m.prune())));
  network.command('connect').argument('<network>').argument('<container>').option('--alias <alias>', 'Add network-scoped alias for the container', collect).option('--ip <address>').description('Connect a container to a network').action((n: string, c: string, o) => set(N().then((m) => m.connect(n, c, o))));
  network.command('disconnect').argument('<network>').argument('<container>').option('-f, --force').description('Disconnect a container from a network').action((n: string, c: string) => set(N().then((m) => m.disconnect(n, c))));
  const V = () => import('./commands/volume');
  const volume = top('volume').description('Manage volumes');
  volume.command('create').argument('[name]').option('-d, --driver <driver>', 'Volume driver name', 'local').option('-o, --opt <opt>', 'Set driver specific options', collect).option('--label <label>', 'Set metadata for a volume', collect).description('Create a volume').action((name: string | undefined, o) => set(V().then((m) => m.create(name, o))));
  volume.command('ls').alias('list').option('-q, --quiet').option('-f, --filter <filter>', '', collect).option('--format <format>').description('List volumes').action((o) => set(V().then((m) => m.ls(o))));
  volume.command('inspect').argument('<names...>').option('-f, --format <format>').description('Display detailed information on one or more volumes').action((names: string[], o) => set(V().then((m) => m.inspect(names, o))));
  volume.command('rm').alias('remove').argument('<names...>').option('-f, --force').description('Remove one or more volumes').action((names: string[], o) => set(V().then((m) => m.rm(names, o))));
  volume.command('prune').option('-a, --all', 'Remove all unused volumes, not just anonymous ones').option('-f, --force').description('Remove unused local volumes').action((o) => set(V().then((m) => m.prune(o))));

  // compose is a bundle of its own (dist/compose-cli.js, scripts/build.mjs): every other command starts without it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const P = async () => require(join(__dirname, 'compose-cli.js')) as typeof import('./commands/compose');
  const compose = top('compose')
    .description('Define and run multi-container applications (docker compose)')
    .option('-f, --file <file>', 'Compose configuration files', collect)
    .option('-p, --project-name <name>', 'Project name')
    .option('--project-directory <dir>', 'Alternate working directory (default: the directory of the first file)')
    .option('--profile <profile>', 'Specify a profile to enable', collect)
    .enablePositionalOptions();
  const g = () => compose.opts() as { file?: string[]; projectName?: string; projectDirectory?: string; profile?: string[] };
  compose.command('up').argument('[services...]').option('-d, --detach', 'Run containers in the background').option('--wait', 'Wait for services to be running|healthy; implies detached mode').option('--wait-timeout <seconds>', 'Maximum duration to wait for the project to be running|healthy').option('--remove-orphans', 'Remove containers for services not defined in the Compose file').option('--build', 'Build images before starting containers').option('--abort-on-container-exit', 'Stops all containers if any container was stopped. Incompatible with -d').option('--exit-code-from <service>', 'Return the exit code of the selected service container. Implies --abort-on-container-exit').option('--scale <scale>', 'Scale SERVICE to NUM instances. Overrides the scale setting in the Compose file if present.', collect).option('--force-recreate', "Recreate containers even if their configuration and image haven't changed").option('--no-recreate', "If containers already exist, don't recreate them").option('--no-deps', "Don't start linked services").option('--watch', 'Watch source code and rebuild/refresh containers when files are updated').description('Create and start containers').action((s: string[], o) => set(P().then((m) => m.up(s, g(), o))));
  compose.command('watch').argument('[services...]').option('--no-up', 'Do not build & start services before watching').description('Watch build context for service and rebuild/refresh containers when files are updated').action((s: string[], o) => set(P().then((m) => m.watch(s, g(), o))));
  compose.command('down').option('-v, --volumes', 'Remove named volumes declared in the "volumes" section and anonymous volumes').option('--remove-orphans', 'Remove containers for services not defined in the Compose file').option('-t, --timeout <seconds>', 'Shutdown timeout in seconds').description('Stop and remove containers, networks').action((o) => set(P().then((m) => m.down(g(), o))));
  compose.command('ps').argument('[services...]').option('-a, --all', 'Show all stopped containers').option('-q, --quiet', 'Only display IDs').option('--services', 'Display services').description('List containers').action((s: string[], o) => set(P().then((m) => m.ps(s, g(), o))));
  compose.command('logs').argument('[services...]').option('-f, --follow', 'Follow log output').option('--no-log-prefix', "Don't print prefix in logs").option('-n, --tail <n>', 'Number of lines to show from the end of the logs').description('View output from containers').action((s: string[], o) => set(P().then((m) => m.logs(s, g(), { ...o, noLogPrefix: o.logPrefix === false }))));
  compose.command('exec').argument('<service>').argument('<command...>').passThroughOptions().option('-d, --detach', 'Detached mode: Run command in the background').option('-T, --no-TTY', 'Disable pseudo-TTY allocation (default: auto-detected)').option('-e, --env <env>', 'Set environment variables', collect).option('-w, --workdir <dir>', 'Path to workdir directory for this command').option('-u, --user <user>', 'Run the command as this user').option('--privileged', 'Give extended privileges to the process').option('--index <index>', 'Index of the container if service has multiple replicas').description('Execute a command in a running container').action((svc: string, cmd: string[], o) => set(P().then((mod) => mod.exec(svc, cmd, g(), { ...o, tty: o.TTY }))));
  compose.command('run').argument('<service>').argument('[command...]').passThroughOptions().option('-d, --detach', 'Run container in background and print container ID').option('--rm', 'Automatically remove the container when it exits').option('--name <name>', 'Assign a name to the container').option('--entrypoint <cmd>', 'Override the entrypoint of the image').option('-e, --env <env>', 'Set environment variables', collect).option('-w, --workdir <dir>', 'Working directory inside the container').option('-u, --user <user>', 'Run as specified username or uid').option('-T, --no-TTY', 'Disable pseudo-TTY allocation (default: auto-detected)').option('--no-deps', "Don't start linked services").option('-P, --service-ports', "Run command with all service's ports enabled and mapped to the host").description('Run a one-off command on a service').action((svc: string, cmd: string[], o) => set(P().then((mod) => mod.runOneOff(svc, cmd, g(), { ...o, tty: o.TTY }))));
  for (const verb of ['start', 'stop', 'restart'] as const)
    compose.command(verb).argument('[services...]').option('-t, --timeout <seconds>', 'Specify a shutdown timeout in seconds').description(`${verb[0].toUpperCase()}${verb.slice(1)} services`).action((s: string[], o) => set(P().then((mod) => mod.lifecycle(verb, s, g(), o))));
  compose.command('kill').argument('[services...]').option('-s, --signal <signal>', 'SIGNAL to send to the container', 'SIGKILL').description('Force stop service containers').action((s: string[], o) => set(P().then((mod) => mod.lifecycle('kill', s, g(), o))));
  for (const verb of ['pause', 'unpause'] as const) compose.command(verb).argument('[services...]').description(`${verb === 'pause' ? 'Pause' : 'Unpause'} services`).action((s: string[]) => set(P().then((mod) => mod.lifecycle(verb, s, g(), {}))));
  compose.command('rm').argument('[services...]').option('-f, --force', "Don't ask to confirm removal").option('-s, --stop', 'Stop the containers, if required, before removing').option('-v, --volumes', 'Remove any anonymous volumes attached to containers').description('Removes stopped service containers').action((s: string[], o) => set(P().then((mod) => mod.lifecycle('rm', s, g(), o))));
  compose.command('docker-plugin').option('--dir <dir>', 'Plugin directory (default: $DOCKER_CONFIG/cli-plugins or ~/.docker/cli-plugins)').option('--force', 'Replace an existing docker-compose plugin').description('Install a docker CLI plugin so that `docker compose` runs berth compose').action((o) => set(P().then((mod) => mod.dockerPlugin(o))));
  compose.command('ls').option('-a, --all', 'Show all stopped Compose projects').option('-q, --quiet', 'Only display project names').description('List running compose projects').action((o) => set(P().then((mod) => mod.ls(o))));
  compose.command('port').argument('<service>').argument('<private_port>').option('--protocol <proto>', 'tcp or udp', 'tcp').description('Print the public port for a port binding').action((svc: string, pp: string, o) => set(P().then((mod) => mod.port(svc, pp, g(), o))));
  compose.command('build').argument('[services...]').description('Build or rebuild services').action((s: string[]) => set(P().then((mod) => mod.build(s, g()))));
  compose.command('pull').argument('[services...]').option('-q, --quiet', 'Pull without printing progress information').description('Pull service images').action((s: string[], o) => set(P().then((mod) => mod.pull(s, g(), o))));
  compose.command('create').argument('[services...]').option('--build', 'Build images before starting containers').option('--force-recreate', "Recreate containers even if their configuration and image haven't changed").option('--no-recreate', "If containers already exist, don't recreate them").option('--scale <scale>', 'Scale SERVICE to NUM instances', collect).description('Creates containers for a service').action((s: string[], o) => set(P().then((m) => m.up(s, g(), { ...o, noStart: true }))));
  compose.command('scale').argument('<specs...>').option('--no-deps', "Don't start linked services").description('Scale services (SERVICE=NUM)').action((specs: string[], o) => set(P().then((m) => m.scale(specs, g(), o))));
  compose.command('stats').argument('[services...]').option('-a, --all', 'Show all containers (default shows just running)').option('--format <format>', 'Format output using a Go template').option('--no-stream', 'Disable streaming stats and only pull the first result').option('--no-trunc', 'Do not truncate output').description('Display a live stream of container(s) resource usage statistics').action((s: string[], o) => set(P().then((m) => m.stats(s, g(), o))));
  compose.command('attach').argument('<service>').option('--index <index>', 'index of the container if service has multiple replicas').option('--no-stdin', 'Do not attach STDIN').description("Attach local standard input, output, and error streams to a service's running container").action((svc: string, o) => set(P().then((m) => m.attach(svc, g(), { index: o.index, noStdin: o.stdin === false }))));
  compose.command('images').argument('[services...]').option('-q, --quiet', 'Only display IDs').description('List images used by the created containers').action((s: string[], o) => set(P().then((mod) => mod.images(s, g(), o))));
  compose.command('top').argument('[services...]').description('Display the running processes').action((s: string[]) => set(P().then((mod) => mod.top(s, g()))));
  compose.command('push').argument('[services...]').option('-q, --quiet', 'Push without printing progress information').option('--ignore-push-failures', 'Push what it can and ignores images with push failures').description('Push service images').action((s: string[], o) => set(P().then((mod) => mod.push(s, g(), o))));
  compose.command('cp').argument('<source>').argument('<destination>').option('--index <index>', 'Index of the container if service has multiple replicas').description('Copy files/folders between a service container and the local filesystem').action((a: string, b: string, o) => set(P().then((mod) => mod.cp(a, b, g(), o))));
  compose.command('wait').argument('<services...>').option('--down-project', 'Drops project when the first container stops').description('Block until containers of all (or specified) services stop').action((s: string[], o) => set(P().then((mod) => mod.wait(s, g(), o))));
  compose.command('version').option('--short', "Shows only Compose's version number").option('-f, --format <format>', 'Format the output. Values: [pretty | json]').description('Show the Berth Compose version information').action((o) => set(P().then((mod) => mod.version(o))));
  compose.command('kube').description('Translate the application to Kubernetes YAML (Deployments, Services, PersistentVolumeClaims)').action(() => set(P().then((mod) => mod.kube(g()))));
  compose.command('config').option('--services', 'Print the service names, one per line').option('-q, --quiet', 'Only validate the configuration').description('Parse, resolve and render compose file in canonical format').action((o) => set(P().then((m) => m.config(g(), o))));

  // kube is a bundle of its own too (dist/kube-cli.js), loaded only by `berth kube`.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const K = async () => require(join(__dirname, 'kube-cli.js')) as typeof import('./commands/kube');
  const kube = top('kube').description('Play containers, pods or volumes from a structured file (Kubernetes YAML)');
  kube.command('play').argument('<file>', 'Kubernetes YAML, or - for stdin').option('--replace', 'Delete and recreate pods that already exist').option('--down', 'Take down the pods of the YAML instead (as kube down)').option('--force', 'With --down: also remove the volumes made for PersistentVolumeClaims').description('Play pods, deployments, configmaps, secrets and volumes from Kubernetes YAML').action((file: string, o) => set(K().then((m) => m.play(file, o))));
  kube.command('down').argument('<file>', 'Kubernetes YAML, or - for stdin').option('--force', 'Also remove the volumes made for PersistentVolumeClaims').description('Remove the pods a Kubernetes YAML made').action((file: string, o) => set(K().then((m) => m.down(file, o))));

  top('version').option('-f, --format <format>').description('Show the Berth version information').action((o) => set(S().then((m) => m.version(o))));
  top('info').option('-f, --format <format>').description('Display system-wide information').action((o) => set(S().then((m) => m.info(o))));
  top('events').option('-f, --filter <filter>', '', collect).option('--since <time>').option('--until <time>').option('--format <format>').description('Get real time events from the server').action((o) => set(S().then((m) => m.events(o))));
  const system = top('system').description('Manage Berth');
  system.command('info').option('-f, --format <format>').action((o) => set(S().then((m) => m.info(o))));
  system.command('events').option('-f, --filter <filter>', '', collect).option('--since <time>').option('--until <time>').action((o) => set(S().then((m) => m.events(o))));
  system.command('df').option('-v, --verbose', 'Show detailed information on space usage').option('--format <format>', 'Format output using a custom template').description('Show disk usage').action((o) => set(S().then((m) => m.df(o))));
  system
    .command('prune')
    .option('-a, --all', 'Remove all unused images not just dangling ones')
    .option('--volumes', 'Prune anonymous volumes')
    .option('-f, --force', 'Do not prompt for confirmation')
    .option('--filter <filter>', 'Provide filter values (e.g. "label=<key>=<value>")', collect)
    .description('Remove unused data')
    .action((o) => set(S().then((m) => m.prune(o))));

  if (!matched && only !== undefined) return main(true);
  try {
    await program.parseAsync(args, { from: 'node' });
  } catch (e) {
    const err = daemonError(e);
    process.stderr.write(`${err.message}\n`);
    return err instanceof ExitError ? err.code : 1;
  }
  return exitCode;
}

const CONTAINER_VERBS = ['start', 'stop', 'kill', 'logs', 'exec', 'attach', 'top', 'diff', 'export', 'commit', 'cp', 'wait', 'rename', 'pause', 'unpause', 'restart', 'create', 'stats', 'port', 'update'];
const IMAGE_VERBS: Record<string, string> = { import: 'import', tag: 'tag', rm: 'rmi', remove: 'rmi', history: 'history', save: 'save', load: 'load', pull: 'pull', push: 'push' };

/** `berth container start x` is `berth start x`; `berth image rm x` is `berth rmi x`. */
function aliasArgv(args: string[]): string[] {
  if (args[0] === 'container' && CONTAINER_VERBS.includes(args[1])) return args.slice(1);
  if (args[0] === 'image' && IMAGE_VERBS[args[1]]) return [IMAGE_VERBS[args[1]], ...args.slice(2)];
  return args;
}

/**
 * Exits once stdout and stderr are flushed, not when the last handle closes: a
 * finished `run` would otherwise wait ~5 ms for sockets and stdin to wind down.
 */
function exitWhenFlushed(code: number): void {
  process.exitCode = code;
  const pending = [process.stdout, process.stderr].filter((s) => s.writableLength > 0);
  if (pending.length === 0) process.exit(code);
  let left = pending.length;
  for (const s of pending) s.once('drain', () => --left === 0 && process.exit(code));
}

// `berth save | head`: a reader that went away ends us quietly, as SIGPIPE ends C tools (128 + 13).
for (const s of [process.stdout, process.stderr]) {
  s.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(141);
    throw e;
  });
}

main().then(
  (code) => exitWhenFlushed(code),
  (e) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);
