using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Xml.Linq;

namespace AttentionWise.Bench;

/// <summary>
/// The summary of a scripts/gpu-check run: reads what its stages left in a work folder and prints one table of ours,
/// PyTorch's and the ratio side by side, with fractions of the GPU's peak where they make sense, and writes the same as
/// summary.txt and summary.json. `AttentionWise.Bench gpu-summary WORK [--out DIR] [--fp32-tflops X] [--hbm-tbs Y]`.
/// The work folder holds (each optional; what is missing shows as such):
/// stages.tsv (stage, status ok|failed|timeout|skipped, exit code, seconds, limit, note), env.tsv (key, value),
/// tests.xml (the xunit runner's -xml report), steps.jsonl and peer-steps.jsonl (StepTiming's and peer.py's rows),
/// layers.jsonl and peer-layers.jsonl (LayerTiming's and peer.py --layers' rows), and train/ (an `aw train` runs folder).
/// </summary>
public static class GpuCheckSummary
{
    public sealed record Options(double? Fp32Tflops = null, double? HbmTbs = null);

    public sealed record Stage(string Name, string Status, int? Exit, double? Seconds, double? Limit, string Note);

    public sealed record Row(string What, string Ours, string PyTorch, string Ratio, string OfPeak, string Status);

    public sealed record Summary(string Text, JsonObject Json, bool AllOk);

    public static int Run(string[] args)
    {
        if (args.Length == 0 || args[0].StartsWith('-'))
        {
            Console.Error.WriteLine("gpu-summary: usage: gpu-summary WORK_DIR [--out DIR] [--fp32-tflops X] [--hbm-tbs Y]");
            return 2;
        }
        string work = args[0];
        string? outDir = null;
        double? fp32 = null, hbm = null;
        for (int i = 1; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            try
            {
                switch (args[i])
                {
                    case "--out": outDir = Value(); break;
                    case "--fp32-tflops": fp32 = PositiveNumber(Value(), "--fp32-tflops"); break;
                    case "--hbm-tbs": hbm = PositiveNumber(Value(), "--hbm-tbs"); break;
                    default: throw new ArgumentException($"unknown argument '{args[i]}' (--out, --fp32-tflops, --hbm-tbs)");
                }
            }
            catch (ArgumentException e)
            {
                Console.Error.WriteLine($"gpu-summary: {e.Message}");
                return 2;
            }
        }
        if (!Directory.Exists(work))
        {
            Console.Error.WriteLine($"gpu-summary: no work folder '{work}'");
            return 1;
        }
        var summary = Build(work, new Options(fp32, hbm));
        Console.Write(summary.Text);
        if (outDir is not null)
        {
            Directory.CreateDirectory(outDir);
            File.WriteAllText(Path.Combine(outDir, "summary.txt"), summary.Text);
            File.WriteAllText(Path.Combine(outDir, "summary.json"),
                summary.Json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        }
        return 0;
    }

    private static double PositiveNumber(string s, string option) =>
        double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && v > 0 && double.IsFinite(v)
            ? v
            : throw new ArgumentException($"{option} takes a positive number, not '{s}'");

    public static Summary Build(string work, Options options)
    {
        var stages = ReadStages(Path.Combine(work, "stages.tsv"));
        var env = ReadEnv(Path.Combine(work, "env.tsv"));
        string gpu = env.GetValueOrDefault("gpu", "");
        var (fp32, hbm, peakNote) = Peaks(gpu, env.GetValueOrDefault("mode", "gpu") == "cpu-only", options, env);
        var rows = new List<Row>();
        var json = new JsonObject
        {
            ["env"] = new JsonObject(env.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
            ["assumed_peaks"] = new JsonObject { ["fp32_tflops"] = fp32, ["hbm_tbs"] = hbm, ["note"] = peakNote },
        };

        // Tests.
        var testRows = new JsonArray();
        var failedTests = new List<string>();
        foreach (var stage in stages.Where(s => s.Name == "tests"))
        {
            var counts = ReadTests(Path.Combine(work, "tests.xml"));
            string what = "tests " + env.GetValueOrDefault("tests", "");
            string counted = counts is null ? StageProblem(stage, "no test report") : $"{counts.Value.Passed} passed, {counts.Value.Failed} failed, {counts.Value.Skipped} skipped";
            rows.Add(new Row(what.Trim(), counted, "", "", "", StageStatus(stage)));
            testRows.Add(new JsonObject
            {
                ["status"] = stage.Status,
                ["passed"] = counts?.Passed, ["failed"] = counts?.Failed, ["skipped"] = counts?.Skipped,
                ["failures"] = counts is null ? null : new JsonArray([.. counts.Value.Failures.Select(f => (JsonNode?)f)]),
            });
            if (counts is { Failures.Count: > 0 })
                failedTests.AddRange(counts.Value.Failures);
        }
        json["tests"] = testRows;

        // Whole training steps: ours beside PyTorch's.
        var ours = ReadJsonLines(Path.Combine(work, "steps.jsonl"));
        var peer = ReadJsonLines(Path.Combine(work, "peer-steps.jsonl"));
        var peerStage = stages.FirstOrDefault(s => s.Name == "peer-steps");
        // The performance model's prediction of the same steps (AttentionWise.Bench model --json), where gpu-check made one.
        var predicted = ReadJsonLines(Path.Combine(work, "model.jsonl"));
        var stepRows = new JsonArray();
        foreach (var stage in stages.Where(s => s.Name.StartsWith("steps-", StringComparison.Ordinal)))
        {
            string model = stage.Name["steps-".Length..];
            var o = ours.FirstOrDefault(r => Str(r, "model") == model);
            var p = peer.FirstOrDefault(r => Str(r, "model") == model);
            int? batch = Int(o, "batch") ?? Int(p, "batch");
            double? oursMs = Num(o, "step_ms"), peerMs = Num(p, "step_ms");
            var m = predicted.FirstOrDefault(r => Str(r, "model") == model && (batch is null || Int(r, "batch") == batch));
            double? predictedMs = Num(m, "step_us") / 1000;
            rows.Add(new Row($"{model} training step, batch {batch?.ToString(CultureInfo.InvariantCulture) ?? "?"}",
                oursMs is double om ? $"{Ms(om)} ({Rate(batch, om)} img/s)" : StageProblem(stage, "no result"),
                peerMs is double pm ? Ms(pm) : PeerProblem(peerStage, p is null),
                Ratio(peerMs, oursMs), predictedMs is double pr ? $"model: {Ms(pr)} on {Str(m, "gpu")}" : "", StageStatus(stage)));
            stepRows.Add(new JsonObject
            {
                ["model"] = model, ["batch"] = batch, ["status"] = stage.Status,
                ["ours_ms"] = oursMs, ["pytorch_ms"] = peerMs, ["pytorch_over_ours"] = peerMs / oursMs,
                ["ours_loss"] = Num(o, "loss"), ["pytorch_loss"] = Num(p, "loss"),
                ["predicted_ms"] = predictedMs, ["predicted_gpu"] = m is null ? null : Str(m, "gpu"),
            });
        }
        json["steps"] = stepRows;

        // One epoch of aw train.
        foreach (var stage in stages.Where(s => s.Name == "train"))
        {
            var epoch = ReadLastEpoch(Path.Combine(work, "train"));
            const string what = "attention-b, 1 epoch (aw train)";
            string oursText = epoch is null
                ? StageProblem(stage, "no epochs.csv")
                : string.Create(CultureInfo.InvariantCulture,
                    $"{epoch.Value.Seconds:F1} s ({epoch.Value.ImagesPerSecond:N0} img/s), test accuracy {epoch.Value.TestAccuracy:F2} %");
            rows.Add(new Row(what, oursText, "", "", "", StageStatus(stage)));
            json["train"] = new JsonObject
            {
                ["status"] = stage.Status,
                ["epoch_seconds"] = epoch?.Seconds, ["images_per_second"] = epoch?.ImagesPerSecond, ["test_accuracy"] = epoch?.TestAccuracy,
            };
        }

        // Per-layer passes.
        var layerStage = stages.FirstOrDefault(s => s.Name == "layers");
        var peerLayerStage = stages.FirstOrDefault(s => s.Name == "peer-layers");
        var layers = ReadJsonLines(Path.Combine(work, "layers.jsonl"));
        var peerLayers = ReadJsonLines(Path.Combine(work, "peer-layers.jsonl"));
        var layerRows = new JsonArray();
        if (layerStage is not null)
        {
            if (layers.Count == 0)
                rows.Add(new Row("per-layer benchmarks", StageProblem(layerStage, "no result"), "", "", "", StageStatus(layerStage)));
            foreach (var o in layers)
            {
                string layer = Str(o, "layer") ?? "?", pass = Str(o, "pass") ?? "?";
                var p = peerLayers.FirstOrDefault(r => Str(r, "layer") == layer && Str(r, "pass") == pass);
                double? oursMs = Num(o, "ms"), peerMs = Num(p, "ms"), flops = Num(o, "flops"), bytes = Num(o, "bytes");
                var bound = Roofline.Bound(flops, bytes, fp32, hbm);
                double? fraction = bound is { } bd && oursMs is double ms && ms > 0 ? bd.Ms / ms : null;
                string ofPeak = bound is { } b2 && fraction is double fr
                    ? string.Create(CultureInfo.InvariantCulture, $"{Ms(b2.Ms)} {(b2.By == "fp32" ? "FP32" : "HBM")}, {100 * fr:0.0} %")
                    : "";
                rows.Add(new Row($"{layer} {pass}, batch {Int(o, "batch")}", oursMs is double m2 ? Ms(m2) : "?",
                    peerMs is double pm ? Ms(pm) : PeerProblem(peerLayerStage, p is null), Ratio(peerMs, oursMs), ofPeak, StageStatus(layerStage)));
                layerRows.Add(new JsonObject
                {
                    ["layer"] = layer, ["pass"] = pass, ["batch"] = Int(o, "batch"), ["ours_ms"] = oursMs, ["pytorch_ms"] = peerMs,
                    ["pytorch_over_ours"] = peerMs / oursMs, ["flops"] = flops, ["bytes"] = bytes,
                    ["bound_ms"] = bound?.Ms, ["fraction_of_peak"] = fraction, ["peak"] = bound?.By,
                });
            }
        }
        json["layers"] = layerRows;
        json["stages"] = new JsonArray([.. stages.Select(s => (JsonNode?)new JsonObject
        {
            ["stage"] = s.Name, ["status"] = s.Status, ["exit"] = s.Exit, ["seconds"] = s.Seconds, ["limit"] = s.Limit, ["note"] = s.Note,
        })]);
        bool allOk = stages.Count > 0 && stages.All(s => s.Status is "ok" or "skipped");
        json["all_ok"] = allOk;

        var text = new StringBuilder();
        text.AppendLine($"AttentionWise gpu-check ({env.GetValueOrDefault("mode", "gpu")}): {Describe(env)}");
        text.Append(Table(rows));
        text.AppendLine("PyTorch ÷ ours: PyTorch's time over ours (above 1: ours is faster). Times are medians of the timed repeats.");
        if (fp32 is not null || hbm is not null)
            text.AppendLine($"Peaks ({peakNote}): FP32 {Fmt(fp32)} TFLOP/s, memory {Fmt(hbm)} TB/s. Roofline bound of a pass: the larger of "
                + "its arithmetic over the FP32 peak (convolutions and linear layers: 2 FLOP per multiply-add) and its least memory traffic (inputs "
                + "read once, outputs written once) over the bandwidth; FP32 or HBM names the larger, and the percentage is the bound over our time.");
        else
            text.AppendLine($"No roofline bounds: {peakNote}.");
        if (failedTests.Count > 0)
            text.AppendLine($"Failed tests ({failedTests.Count}): " + string.Join(", ", failedTests.Take(10)) + (failedTests.Count > 10 ? ", …" : "") + ".");
        foreach (var note in env.Where(kv => kv.Key.StartsWith("note", StringComparison.Ordinal)))
            text.AppendLine(note.Value);
        text.AppendLine("Stages: " + string.Join(", ", stages.Select(s =>
            $"{s.Name} {s.Status}{(s.Seconds is double sec ? string.Create(CultureInfo.InvariantCulture, $" {sec:0} s") : "")}"
            + (s.Status != "ok" && s.Note.Length > 0 ? $" ({s.Note})" : ""))));
        return new Summary(text.ToString(), json, allOk);
    }

    /// <summary>The least time a pass can take on a device with these peaks.</summary>
    public static class Roofline
    {
        /// <summary>The larger of <paramref name="flops"/> over the FP32 peak and <paramref name="bytes"/> over the memory
        /// bandwidth, in ms, and which it is ("fp32" or "hbm"); a term whose figure or peak is missing is left out; null
        /// when neither can be computed.</summary>
        public static (double Ms, string By)? Bound(double? flops, double? bytes, double? fp32Tflops, double? memoryTbs)
        {
            double? compute = flops is double f && fp32Tflops is double p ? f / (p * 1e12) * 1e3 : null;
            double? memory = bytes is double b && memoryTbs is double bw ? b / (bw * 1e12) * 1e3 : null;
            return (compute, memory) switch
            {
                (double c, double m) => c >= m ? (c, "fp32") : (m, "hbm"),
                (double c, null) => (c, "fp32"),
                (null, double m) => (m, "hbm"),
                _ => null,
            };
        }
    }

    private static string Describe(Dictionary<string, string> env)
    {
        var parts = new List<string>();
        foreach (var key in new[] { "gpu", "driver", "device", "torch", "bundle", "date" })
            if (env.TryGetValue(key, out var v) && v.Length > 0)
                parts.Add($"{key} {v}");
        return parts.Count == 0 ? "(no environment recorded)" : string.Join("; ", parts);
    }

    /// <summary>The peaks the roofline uses: given on the command line; else, on a GPU run, the ones gpu-check derived from
    /// the device's properties (env.tsv: peak_fp32_tflops, peak_memory_tbs, peak_source); else the data sheet's for the
    /// GPU's name.</summary>
    private static (double? Fp32, double? Hbm, string Note) Peaks(string gpu, bool cpuOnly, Options options, Dictionary<string, string> env)
    {
        if (options.Fp32Tflops is not null || options.HbmTbs is not null)
            return (options.Fp32Tflops, options.HbmTbs, "given on the command line");
        if (cpuOnly)
            return (null, null, "cpu-only run (no GPU peaks apply; give --fp32-tflops and --hbm-tbs for a CPU's)");
        if (EnvNumber(env, "peak_fp32_tflops") is double f && EnvNumber(env, "peak_memory_tbs") is double m)
            return (f, m, env.GetValueOrDefault("peak_source", "the device's properties"));
        if (GpuPeaks.FromDataSheet(gpu) is { } sheet)
            return (sheet.Fp32Tflops, sheet.MemoryTbs, sheet.Source);
        return (null, null, $"no peak figures known for '{(gpu.Length > 0 ? gpu : "this GPU")}' (give --fp32-tflops and --hbm-tbs)");
    }

    private static double? EnvNumber(Dictionary<string, string> env, string key) =>
        env.TryGetValue(key, out var v) && double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) && d > 0 && double.IsFinite(d) ? d : null;

    private static string Fmt(double? v) => v?.ToString("0.###", CultureInfo.InvariantCulture) ?? "?";

    private static string Ms(double ms) => ms >= 1000
        ? string.Create(CultureInfo.InvariantCulture, $"{ms / 1000:0.00} s")
        : string.Create(CultureInfo.InvariantCulture, $"{ms:0.###} ms");

    private static string Rate(int? batch, double ms) => batch is int b && ms > 0
        ? (b / (ms * 1e-3)).ToString("N0", CultureInfo.InvariantCulture)
        : "?";

    private static string Ratio(double? peer, double? ours) => peer is double p && ours is double o && o > 0
        ? string.Create(CultureInfo.InvariantCulture, $"{p / o:0.00}×")
        : "";

    private static string StageStatus(Stage s) => s.Status switch
    {
        "ok" => s.Seconds is double sec ? string.Create(CultureInfo.InvariantCulture, $"ok {sec:0} s") : "ok",
        "timeout" => string.Create(CultureInfo.InvariantCulture, $"timed out ({s.Limit:0} s)"),
        "failed" => s.Exit is int e ? $"failed (exit {e})" : "failed",
        _ => s.Status,
    };

    /// <summary>What a row says instead of a figure; the stage's full note is in the Stages line below the table.</summary>
    private static string StageProblem(Stage s, string missing) => s.Status switch
    {
        "ok" => missing,
        "skipped" => "skipped",
        _ => StageStatus(s),
    };

    private static string PeerProblem(Stage? s, bool missing) => s is null ? "—" : s.Status switch
    {
        "ok" => missing ? "—" : "?",
        "skipped" => "skipped",
        _ => StageStatus(s),
    };

    private static string Table(List<Row> rows)
    {
        string[] head = ["what", "ours", "PyTorch", "PyTorch ÷ ours", "roofline bound, of ours", "stage"];
        var cells = rows.Select(r => new[] { r.What, r.Ours, r.PyTorch, r.Ratio, r.OfPeak, r.Status }).Prepend(head).ToList();
        var widths = Enumerable.Range(0, head.Length).Select(c => cells.Max(r => r[c].Length)).ToArray();
        var sb = new StringBuilder();
        void Line(string[] r) => sb.AppendLine(string.Join("  ", r.Select((v, c) => c is 1 or 2 or 3 ? v.PadLeft(widths[c]) : v.PadRight(widths[c]))).TrimEnd());
        Line(cells[0]);
        sb.AppendLine(string.Join("  ", widths.Select(w => new string('-', w))));
        foreach (var r in cells.Skip(1))
            Line(r);
        return sb.ToString();
    }

    public static List<Stage> ReadStages(string path)
    {
        var stages = new List<Stage>();
        if (!File.Exists(path))
            return stages;
        foreach (var line in File.ReadAllLines(path))
        {
            var f = line.Split('\t');
            if (f.Length < 2 || f[0].Length == 0)
                continue;
            string Field(int i) => i < f.Length ? f[i] : "";
            stages.Add(new Stage(f[0], f[1],
                int.TryParse(Field(2), NumberStyles.Integer, CultureInfo.InvariantCulture, out int e) ? e : null,
                double.TryParse(Field(3), NumberStyles.Float, CultureInfo.InvariantCulture, out double s) ? s : null,
                double.TryParse(Field(4), NumberStyles.Float, CultureInfo.InvariantCulture, out double l) ? l : null,
                Field(5)));
        }
        return stages;
    }

    private static Dictionary<string, string> ReadEnv(string path)
    {
        var env = new Dictionary<string, string>();
        if (File.Exists(path))
            foreach (var line in File.ReadAllLines(path))
            {
                int tab = line.IndexOf('\t');
                if (tab > 0)
                    env[line[..tab]] = line[(tab + 1)..].Trim();
            }
        return env;
    }

    /// <summary>Counts and failed test names from an xunit -xml report (assembly elements with total, passed, failed,
    /// skipped and errors attributes).</summary>
    public static (int Passed, int Failed, int Skipped, List<string> Failures)? ReadTests(string path)
    {
        if (!File.Exists(path))
            return null;
        try
        {
            var doc = XDocument.Load(path);
            var assemblies = doc.Descendants("assembly").ToList();
            if (assemblies.Count == 0)
                return null;
            int Sum(string attribute) => assemblies.Sum(a => int.TryParse((string?)a.Attribute(attribute), out int v) ? v : 0);
            var failures = doc.Descendants("test").Where(t => (string?)t.Attribute("result") == "Fail")
                .Select(t => (string?)t.Attribute("name") ?? "?").ToList();
            return (Sum("passed"), Sum("failed") + Sum("errors"), Sum("skipped"), failures);
        }
        catch (System.Xml.XmlException)
        {
            return null;
        }
    }

    /// <summary>JSON objects, one a line; lines that are not JSON objects (log output) are ignored.</summary>
    public static List<JsonObject> ReadJsonLines(string path)
    {
        var rows = new List<JsonObject>();
        if (!File.Exists(path))
            return rows;
        foreach (var line in File.ReadAllLines(path))
        {
            if (!line.TrimStart().StartsWith('{'))
                continue;
            try
            {
                if (JsonNode.Parse(line) is JsonObject o)
                    rows.Add(o);
            }
            catch (JsonException)
            {
            }
        }
        return rows;
    }

    private static (double Seconds, double ImagesPerSecond, double TestAccuracy)? ReadLastEpoch(string runsDir)
    {
        if (!Directory.Exists(runsDir))
            return null;
        var csv = Directory.EnumerateFiles(runsDir, "epochs.csv", SearchOption.AllDirectories).FirstOrDefault();
        if (csv is null)
            return null;
        var lines = File.ReadAllLines(csv).Where(l => l.Length > 0).ToList();
        if (lines.Count < 2)
            return null;
        var head = lines[0].Split(',').ToList();
        var last = lines[^1].Split(',');
        double Col(string name)
        {
            int i = head.IndexOf(name);
            return i >= 0 && i < last.Length && double.TryParse(last[i], NumberStyles.Float, CultureInfo.InvariantCulture, out double v) ? v : double.NaN;
        }
        return (Col("epoch_seconds"), Col("images_per_second"), Col("test_accuracy"));
    }

    private static string? Str(JsonObject? o, string key) =>
        o is not null && o.TryGetPropertyValue(key, out var v) && v is JsonValue j && j.TryGetValue(out string? s) ? s : null;

    private static double? Num(JsonObject? o, string key) =>
        o is not null && o.TryGetPropertyValue(key, out var v) && v is JsonValue j && j.TryGetValue(out double d) ? d : null;

    private static int? Int(JsonObject? o, string key) => Num(o, key) is double d ? (int)d : null;
}
