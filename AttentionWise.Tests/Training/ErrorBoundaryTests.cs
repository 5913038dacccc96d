using System.Globalization;
using AttentionWise.Tests.Data;
using AttentionWise.Tool;
using AttentionWise.Tool.Cli;
using AttentionWise.Training;

namespace AttentionWise.Tests.Training
{
    /// <summary>The one error boundary of the command line: every failure is one "aw: error:" line and an exit code;
    /// --verbose adds the stack trace.</summary>
    public class ErrorBoundaryTests
    {
        private static (int Code, string Out, string Err) Guarded(Func<int> body, bool verbose = false)
        {
            var output = new StringWriter(CultureInfo.InvariantCulture);
            var error = new StringWriter(CultureInfo.InvariantCulture);
            var io = new CliIO(output, error, interactive: false) { Verbose = verbose };
            int code = io.Guard(body);
            return (code, output.ToString(), error.ToString());
        }

        private static int Throw(Exception e) => throw e;

        public static TheoryData<Exception, int, string> Failures() => new()
        {
            { new global::ILGPU.Runtime.Cuda.CudaException("out of device memory\nwhile allocating 12 GB"), ExitCodes.Error, "the device failed: CudaException: out of device memory while allocating 12 GB" },
            { new AggregateException(new global::ILGPU.Runtime.OpenCL.CLException("kernel failed")), ExitCodes.Error, "the device failed: CLException: kernel failed" },
            { new global::ILGPU.InternalCompilerException("cannot compile"), ExitCodes.Error, "the device failed: InternalCompilerException: cannot compile" },
            { new OutOfMemoryException(), ExitCodes.Error, "out of memory" },
            { new OverflowException("Arithmetic operation resulted in an overflow."), ExitCodes.Error, "unexpected OverflowException: Arithmetic operation resulted in an overflow. (--verbose shows where it happened)" },
            { new System.Text.Json.JsonException("'x' is an invalid start of a value."), ExitCodes.Error, "unexpected JsonException" },
            { new FormatException("bad field"), ExitCodes.Error, "unexpected FormatException: bad field" },
            { new IOException("No space left on device : '/runs/a/steps.csv'"), ExitCodes.Error, "No space left on device : '/runs/a/steps.csv'" },
            { new InvalidRequestException(RunSetting.MicroBatch, "4 cannot split a batch."), ExitCodes.Usage, "--micro-batch 4 cannot split a batch." },
            { new ResumeConflictException("runs/a", [new SettingConflict(RunSetting.Seed, "8", "7")]), ExitCodes.Usage, "--resume continues a run with its own settings; these options disagree with them: --seed 8 (the run has 7)." },
            { new RunExistsException("runs/a"), ExitCodes.Usage, "The run directory runs/a already holds a run: pass --resume to continue it, or choose another --run." },
            { new RunInUseException("runs/a", 12345), ExitCodes.Error, "runs/a is in use: process 12345 holds its lock" },
            { new ModelTooLargeException("too big", 1), ExitCodes.Error, "too big" },
            { new DeviceNotFoundException("There is no device 7."), ExitCodes.Usage, "There is no device 7." },
        };

        [Theory]
        [MemberData(nameof(Failures))]
        public void EveryFailureIsOneLineAndAnExitCode(Exception failure, int code, string expected)
        {
            var (exit, _, err) = Guarded(() => Throw(failure));
            Assert.Equal(code, exit);
            Assert.Contains(expected, Hostile.OneErrorLine(err));
        }

        [Fact]
        public void VerboseAddsTheStackTrace()
        {
            var quiet = Guarded(() => Throw(new InvalidOperationException("boom")));
            Assert.Equal(ExitCodes.Error, quiet.Code);
            Hostile.OneErrorLine(quiet.Err);
            var verbose = Guarded(() => Throw(new InvalidOperationException("boom")), verbose: true);
            Assert.Equal(ExitCodes.Error, verbose.Code);
            Assert.StartsWith("aw: error: unexpected InvalidOperationException: boom", verbose.Err);
            Assert.Contains("System.InvalidOperationException: boom", verbose.Err);
            Assert.Contains("   at ", verbose.Err);
        }

        [Fact]
        public void TheVerboseOptionWorksOnEveryCommandEndToEnd()
        {
            using var dir = new TempDir();
            string missing = dir.File("missing.safetensors");
            var quiet = CliTests.Aw("eval", "--checkpoint", missing);
            Assert.Equal(ExitCodes.Error, quiet.Code);
            Assert.Contains("missing.safetensors: no such checkpoint file", Hostile.OneErrorLine(quiet.Err));

            var after = CliTests.Aw("eval", "--checkpoint", missing, "--verbose");
            var before = CliTests.Aw("--verbose", "eval", "--checkpoint", missing);
            foreach (var v in new[] { after, before })
            {
                Assert.Equal(ExitCodes.Error, v.Code);
                Assert.StartsWith("aw: error: " + missing, v.Err);
                Assert.Contains("CheckpointException", v.Err);
                Assert.Contains("   at ", v.Err);
            }
            Assert.Contains("--verbose", CliTests.Aw("train", "--help").Out);
        }

        [Fact]
        public void ABrokenOutputStreamStillEndsInAnErrorLine()
        {
            var error = new StringWriter(CultureInfo.InvariantCulture);
            int code = Program.Run(["params"], new BrokenWriter(), error);
            Assert.Equal(ExitCodes.Error, code);
            Assert.Contains("the output is closed", Hostile.OneErrorLine(error.ToString()));
        }

        /// <summary>A writer whose every write fails, as stdout does when the pipe it goes to is closed.</summary>
        private sealed class BrokenWriter : TextWriter
        {
            public override System.Text.Encoding Encoding => System.Text.Encoding.UTF8;
            public override void Write(char value) => throw new IOException("the output is closed");
            public override void Write(string? value) => throw new IOException("the output is closed");
            public override void Flush() => throw new IOException("the output is closed");
        }
    }
}
