using System.Text.Json.Nodes;
using AttentionWise.Bench;
using AttentionWise.Layers;
using AttentionWise.Tests.Infrastructure;

namespace AttentionWise.Tests.Bench;

/// <summary>
/// scripts/gpu-check's summary (<see cref="GpuCheckSummary"/>): what it reads from the stages' files and the figures it
/// derives (PyTorch ÷ ours, fractions of peak), and the per-layer harness it times (<see cref="LayerTiming"/>).
/// </summary>
[Collection(AttentionWise.Tests.Infrastructure.SharedDevices.Name)]
public sealed class GpuCheckTests : IDisposable
{
    private readonly string _work = Directory.CreateTempSubdirectory("aw-gpu-check-").FullName;

    public void Dispose() => Directory.Delete(_work, recursive: true);

    private void Write(string name, params string[] lines) => File.WriteAllLines(Path.Combine(_work, name), lines);

    // As gpu-check writes them: a skipped stage has no exit code, time or limit.
    private static string Stage(string name, string status, int? exit, int seconds, int limit, string note = "") =>
        status == "skipped" ? $"{name}\t{status}\t\t\t\t{note}" : $"{name}\t{status}\t{exit}\t{seconds}\t{limit}\t{note}";

    private void WriteGpuRun(string attentionHStatus = "ok", string peerStatus = "ok")
    {
        Write("env.tsv", "mode\tgpu", "device\tcuda", "gpu\tNVIDIA H200", "driver\t580.65", "tests\t(*CudaTests)", "note-data\tFashion-MNIST: the first 30000 images");
        Write("stages.tsv",
            Stage("runtime", "ok", 0, 2, 90),
            Stage("tests", "failed", 1, 40, 150, "Failed: 1"),
            Stage("steps-control", "ok", 0, 9, 45),
            Stage("steps-attention-h", attentionHStatus, attentionHStatus == "ok" ? 0 : 124, 60, 60),
            Stage("peer-steps", peerStatus, peerStatus == "ok" ? 0 : null, 20, 90, peerStatus == "ok" ? "" : "python3 cannot import torch"),
            Stage("train", "ok", 0, 30, 120),
            Stage("layers", "ok", 0, 12, 60),
            Stage("peer-layers", peerStatus, peerStatus == "ok" ? 0 : null, 10, 60));
        Write("tests.xml",
            """<?xml version="1.0" encoding="utf-8"?><assemblies><assembly name="AttentionWise.Tests.dll" total="5" passed="3" failed="1" skipped="1" errors="0">""",
            """<collection><test name="A.Conv2dCudaTests.ForwardMatches" result="Fail" /><test name="A.X.Y" result="Pass" /></collection></assembly></assemblies>""");
        Write("steps.jsonl",
            "ILGPU log line that is not JSON",
            """{"model":"control","device":"cuda","batch":256,"step_ms":10.0,"loss":2.3}""",
            attentionHStatus == "ok" ? """{"model":"attention-h","device":"cuda","batch":4096,"step_ms":50.0,"loss":2.1}""" : "");
        if (peerStatus == "ok")
        {
            Write("peer-steps.jsonl",
                """{"model":"control","device":"cuda","batch":256,"step_ms":30.0,"loss":2.3}""",
                """{"model":"attention-h","device":"cuda","batch":4096,"step_ms":100.0,"loss":2.1}""");
            Write("peer-layers.jsonl", """{"layer":"control.conv2","pass":"forward","ms":0.5}""");
        }
        // 6.7e10 FLOP in 1 ms is 67 TFLOP/s, the assumed H200 FP32 peak; 2.4e9 bytes in 1 ms is half of 4.8 TB/s.
        Write("layers.jsonl",
            """{"layer":"control.conv2","pass":"forward","batch":256,"ms":1.0,"flops":6.7e10,"bytes":1000}""",
            """{"layer":"attention-b.heads","pass":"backward","batch":4096,"ms":1.0,"flops":null,"bytes":2.4e9}""");
        var run = Directory.CreateDirectory(Path.Combine(_work, "train", "attention-b-1-epoch")).FullName;
        File.WriteAllLines(Path.Combine(run, "epochs.csv"),
        [
            "epoch,loss_sum,loss_mean,test_accuracy,last_grad_mean,epoch_seconds,images_per_second,device",
            "1,20.5,1.4,63.5,1e-6,12.5,2400,cuda",
        ]);
    }

    private static JsonObject Find(JsonNode? array, string key, string value) =>
        array!.AsArray().OfType<JsonObject>().Single(o => (string?)o[key] == value);

    [Fact]
    public void PutsOursBesidePyTorchsWithTheRatioAndTheRooflineBoundsOfTheDataSheetsPeaks()
    {
        WriteGpuRun();
        var s = GpuCheckSummary.Build(_work, new GpuCheckSummary.Options());
        var control = Find(s.Json["steps"], "model", "control");
        Assert.Equal(3.0, (double)control["pytorch_over_ours"]!, 9);
        Assert.Equal(2.0, (double)Find(s.Json["steps"], "model", "attention-h")["pytorch_over_ours"]!, 9);
        var conv = Find(s.Json["layers"], "layer", "control.conv2");
        Assert.Equal(1.0, (double)conv["fraction_of_peak"]!, 9);
        Assert.Equal("fp32", (string?)conv["peak"]);
        Assert.Equal(0.5, (double)conv["pytorch_over_ours"]!, 9);   // PyTorch's 0.5 ms over our 1 ms
        var heads = Find(s.Json["layers"], "layer", "attention-b.heads");
        Assert.Equal(0.5, (double)heads["fraction_of_peak"]!, 9);
        Assert.Equal("hbm", (string?)heads["peak"]);
        Assert.Null(heads["pytorch_over_ours"]);
        Assert.Equal(63.5, (double)s.Json["train"]!["test_accuracy"]!);

        Assert.Contains("control training step, batch 256", s.Text);
        Assert.Contains("3.00×", s.Text);
        Assert.Contains("1 ms FP32, 100.0 %", s.Text);
        Assert.Contains("0.5 ms HBM, 50.0 %", s.Text);
        Assert.Equal(0.5, (double)heads["bound_ms"]!, 9);
        Assert.Contains("25,600 img/s", s.Text);   // 256 images in 10 ms
        Assert.Contains("12.5 s (2,400 img/s), test accuracy 63.50 %", s.Text);
        Assert.Contains("H200 data sheet", s.Text);
        Assert.Contains("Fashion-MNIST: the first 30000 images", s.Text);
    }

    [Fact]
    public void PutsThePerformanceModelsPredictionBesideTheMeasuredStep()
    {
        WriteGpuRun();
        // As `AttentionWise.Bench model --json` writes it; a prediction for another batch is not this step's.
        Write("model.jsonl",
            """{"model":"control","batch":256,"gpu":"H200","step_us":8250.0,"launches":82}""",
            """{"model":"attention-h","batch":64,"gpu":"H200","step_us":500.0,"launches":70}""");
        var s = GpuCheckSummary.Build(_work, new GpuCheckSummary.Options());
        var control = Find(s.Json["steps"], "model", "control");
        Assert.Equal(8.25, (double)control["predicted_ms"]!, 9);
        Assert.Equal("H200", (string?)control["predicted_gpu"]);
        Assert.Null(Find(s.Json["steps"], "model", "attention-h")["predicted_ms"]);
        var line = s.Text.Split('\n').Single(l => l.StartsWith("control training step", StringComparison.Ordinal));
        Assert.Contains("model: 8.25 ms on H200", line);
    }

    [Fact]
    public void ReportsTestCountsAndTheFailedTestsAndIsNotAllOkWhenAStageFailed()
    {
        WriteGpuRun();
        var s = GpuCheckSummary.Build(_work, new GpuCheckSummary.Options());
        var tests = s.Json["tests"]!.AsArray().Single()!;
        Assert.Equal(3, (int)tests["passed"]!);
        Assert.Equal(1, (int)tests["failed"]!);
        Assert.Equal(1, (int)tests["skipped"]!);
        Assert.Contains("3 passed, 1 failed, 1 skipped", s.Text);
        Assert.Contains("failed (exit 1)", s.Text);
        Assert.Contains("A.Conv2dCudaTests.ForwardMatches", s.Text);
        Assert.False(s.AllOk);
        Assert.False((bool)s.Json["all_ok"]!);
    }

    [Fact]
    public void AStageThatTimedOutOrWasSkippedShowsAsSuchAndTheOthersStillReport()
    {
        WriteGpuRun(attentionHStatus: "timeout", peerStatus: "skipped");
        var s = GpuCheckSummary.Build(_work, new GpuCheckSummary.Options());
        var line = s.Text.Split('\n').Single(l => l.StartsWith("attention-h training step", StringComparison.Ordinal));
        Assert.Contains("timed out (60 s)", line);
        Assert.Null(Find(s.Json["steps"], "model", "attention-h")["ours_ms"]);
        var control = s.Text.Split('\n').Single(l => l.StartsWith("control training step", StringComparison.Ordinal));
        Assert.Contains("10 ms", control);
        Assert.Contains("skipped", control);
        Assert.Contains("peer-steps skipped (python3 cannot import torch)", s.Text);
        Assert.Null(Find(s.Json["steps"], "model", "control")["pytorch_ms"]);
    }

    [Fact]
    public void GivesNoFractionsOfPeakOnACpuOnlyRunOrAnUnknownGpuUnlessThePeaksAreGiven()
    {
        WriteGpuRun();
        File.WriteAllLines(Path.Combine(_work, "env.tsv"), ["mode\tcpu-only", "device\tcpu"]);
        var cpu = GpuCheckSummary.Build(_work, new GpuCheckSummary.Options());
        Assert.DoesNotContain("% FP32", cpu.Text);
        Assert.Null(Find(cpu.Json["layers"], "layer", "control.conv2")["fraction_of_peak"]);
        Assert.Contains("No roofline bounds: cpu-only run", cpu.Text);

        File.WriteAllLines(Path.Combine(_work, "env.tsv"), ["mode\tgpu", "gpu\tSome Other GPU"]);
        Assert.Contains("no peak figures known for 'Some Other GPU'", GpuCheckSummary.Build(_work, new GpuCheckSummary.Options()).Text);
        var given = GpuCheckSummary.Build(_work, new GpuCheckSummary.Options(Fp32Tflops: 134, HbmTbs: 2.4));
        Assert.Equal(0.5, (double)Find(given.Json["layers"], "layer", "control.conv2")["fraction_of_peak"]!, 9);
        Assert.Equal(1.0, (double)Find(given.Json["layers"], "layer", "attention-b.heads")["fraction_of_peak"]!, 9);
    }

    [Fact]
    public void TheCommandWritesTheSummaryFilesAndRejectsBadArguments()
    {
        WriteGpuRun();
        string outDir = Path.Combine(_work, "out");
        var stdout = Console.Out;
        try
        {
            Console.SetOut(TextWriter.Null);
            Assert.Equal(0, GpuCheckSummary.Run([_work, "--out", outDir]));
            Assert.Equal(1, GpuCheckSummary.Run([Path.Combine(_work, "missing")]));
            Assert.Equal(2, GpuCheckSummary.Run([_work, "--fp32-tflops", "-3"]));
            Assert.Equal(2, GpuCheckSummary.Run([_work, "--colour"]));
            Assert.Equal(2, GpuCheckSummary.Run([]));
        }
        finally
        {
            Console.SetOut(stdout);
        }
        Assert.Contains("PyTorch ÷ ours", File.ReadAllText(Path.Combine(outDir, "summary.txt")));
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "summary.json")))!;
        Assert.Equal(8, json["stages"]!.AsArray().Count);
    }

    [Fact]
    public void TheLayerHarnessTimesForwardAndBackwardWithTheArithmeticOfAConvolution()
    {
        var rows = LayerTiming.Time(TestDevices.Cpu, "control.conv4", batchDiv: 128, repeats: 1, warmup: 0).ToList();
        Assert.Equal(["forward", "backward"], rows.Select(r => (string)r["pass"]!));
        Assert.All(rows, r => Assert.Equal(2, (int)r["batch"]!));
        Assert.All(rows, r => Assert.True((double)r["ms"]! > 0));
        // conv4: 100 -> 200 channels, 3x3, 14x14 output, batch 2: 2 FLOP per multiply-add.
        double forward = 2.0 * 2 * 200 * 14 * 14 * 100 * 9;
        Assert.Equal(forward, (double)rows[0]["flops"]!);
        Assert.Equal(2 * forward, (double)rows[1]["flops"]!);   // input and weight gradients
        // Least traffic of the forward: input, weights and bias read, output written.
        long input = 2 * 100 * 14 * 14, output = 2 * 200 * 14 * 14, parameters = 200 * 100 * 9 + 200;
        Assert.Equal(4 * (input + output + parameters), (long)rows[0]["bytes"]!);
    }

    [Fact]
    public void TheFirstConvolutionHasNoInputGradientAndOtherLayersNoArithmeticFigure()
    {
        using var conv = new Conv2d(TestDevices.Cpu, 1, 100, 3, 1, 1);
        var (forward, backward) = LayerTiming.Flops(conv, Shape.Of(4, 1, 28, 28), Shape.Of(4, 100, 28, 28), inputGradient: false);
        Assert.Equal(2.0 * 4 * 100 * 28 * 28 * 9, forward);
        Assert.Equal(forward, backward);
        using var relu = new ReLU(TestDevices.Cpu);
        Assert.Equal((null, null), LayerTiming.Flops(relu, Shape.Of(4, 1, 2, 2), Shape.Of(4, 1, 2, 2), inputGradient: true));
    }

    [Fact]
    public void TheDevicesOwnPeaksComeBeforeTheDataSheetsAndTheCommandLineBeforeBoth()
    {
        WriteGpuRun();
        File.AppendAllLines(Path.Combine(_work, "env.tsv"), ["peak_fp32_tflops\t33.5", "peak_memory_tbs\t4.8", "peak_source\tdevice properties: test"]);
        var fromDevice = GpuCheckSummary.Build(_work, new GpuCheckSummary.Options());
        // 6.7e10 FLOP at 33.5 TFLOP/s take 2 ms: our 1 ms is twice as fast as that bound can be, a measurement to question.
        Assert.Equal(2.0, (double)Find(fromDevice.Json["layers"], "layer", "control.conv2")["fraction_of_peak"]!, 9);
        Assert.Contains("device properties: test", fromDevice.Text);
        var given = GpuCheckSummary.Build(_work, new GpuCheckSummary.Options(Fp32Tflops: 134, HbmTbs: 2.4));
        var conv = Find(given.Json["layers"], "layer", "control.conv2");
        Assert.Equal(0.5, (double)conv["fraction_of_peak"]!, 9);
        Assert.Equal(1.0, (double)Find(given.Json["layers"], "layer", "attention-b.heads")["fraction_of_peak"]!, 9);
        Assert.Contains("given on the command line", given.Text);
    }

    [Fact]
    public void TheRooflineBoundIsTheLargerOfArithmeticAndTrafficOverTheirPeaks()
    {
        Assert.Equal((2.0, "fp32"), GpuCheckSummary.Roofline.Bound(flops: 2e9, bytes: 1e6, fp32Tflops: 1, memoryTbs: 1));
        Assert.Equal((1.0, "hbm"), GpuCheckSummary.Roofline.Bound(flops: 2e6, bytes: 1e9, fp32Tflops: 1, memoryTbs: 1));
        Assert.Equal((1.0, "hbm"), GpuCheckSummary.Roofline.Bound(flops: null, bytes: 1e9, fp32Tflops: 1, memoryTbs: 1));
        Assert.Equal((2.0, "fp32"), GpuCheckSummary.Roofline.Bound(flops: 2e9, bytes: 1e9, fp32Tflops: 1, memoryTbs: null));
        Assert.Null(GpuCheckSummary.Roofline.Bound(flops: 2e9, bytes: 1e9, fp32Tflops: null, memoryTbs: null));
    }

    [Theory]
    // H100 SXM as CUDA reports it: 132 multiprocessors at 1.98 GHz, HBM3 on a 5120-bit bus at 2.619 GHz.
    [InlineData(9, 0, 132, 1_980_000, 2_619_000, 5120, 66.9, 3.352)]
    // Tesla T4: 40 multiprocessors at 1.59 GHz, GDDR6 on a 256-bit bus at 5.001 GHz.
    [InlineData(7, 5, 40, 1_590_000, 5_001_000, 256, 8.141, 0.320)]
    // A100: 64 FP32 lanes per multiprocessor, not Ampere's consumer 128.
    [InlineData(8, 0, 108, 1_410_000, 1_593_000, 5120, 19.49, 2.039)]
    public void PeaksFromADevicesPropertiesMatchItsDataSheet(int major, int minor, int sms, int clock, int memoryClock, int bus, double fp32, double memory)
    {
        var peaks = GpuPeaks.FromProperties(major, minor, sms, clock, memoryClock, bus)!;
        Assert.Equal(fp32, peaks.Fp32Tflops, 0.01 * fp32);
        Assert.Equal(memory, peaks.MemoryTbs, 0.01 * memory);
        Assert.Contains($"{sms} multiprocessors", peaks.Source);
        Assert.Null(GpuPeaks.FromProperties(3, 5, sms, clock, memoryClock, bus));
        Assert.Null(GpuPeaks.FromProperties(major, minor, sms, clock, 0, bus));
    }

    [Theory]
    [InlineData("NVIDIA H200", 67.0)]
    [InlineData("NVIDIA H100 80GB HBM3", 67.0)]
    [InlineData("Tesla T4", 8.1)]
    [InlineData("NVIDIA L4", 30.3)]
    public void TheDataSheetIsFoundByAWordOfTheName(string name, double fp32) =>
        Assert.Equal(fp32, GpuPeaks.FromDataSheet(name)!.Fp32Tflops);

    [Fact]
    public void ANameThatOnlyContainsADataSheetNameIsNotIt()
    {
        Assert.Null(GpuPeaks.FromDataSheet("NVIDIA RTX 4090"));
        Assert.Null(GpuPeaks.FromDataSheet("NVIDIA GeForce GTX 1080 Ti"));
        Assert.Equal(30.3, GpuPeaks.FromDataSheet("NVIDIA L4")!.Fp32Tflops);
        Assert.Equal(91.6, GpuPeaks.FromDataSheet("NVIDIA L40S")!.Fp32Tflops);
    }
}
