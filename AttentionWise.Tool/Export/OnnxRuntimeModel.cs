using System.Diagnostics;
using System.Globalization;
using AttentionWise.Layers;
using AttentionWise.Training.Data;
using AttentionWise.Training.Export;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace AttentionWise.Tool.Export;

/// <summary>An exported model loaded in ONNX Runtime (CPU execution provider): its logits for a batch of images.</summary>
internal sealed class OnnxRuntimeModel : IDisposable
{
    private readonly InferenceSession _session;

    /// <summary>Loads <paramref name="path"/>; ONNX Runtime checks the model and infers its shapes while loading.</summary>
    /// <exception cref="OnnxRuntimeException">ONNX Runtime refused the file.</exception>
    public OnnxRuntimeModel(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
            throw new FileNotFoundException($"{path}: no such ONNX file.", path);
        _session = new InferenceSession(path);
        if (!_session.InputMetadata.TryGetValue(OnnxExporter.InputName, out var input) || input.Dimensions.Length != 4)
            throw new InvalidDataException($"{path}: the model has no input '{OnnxExporter.InputName}' of rank 4 (it was not written by aw export).");
        if (!_session.OutputMetadata.TryGetValue(OnnxExporter.LogitsName, out var output) || output.Dimensions.Length != 2 || output.Dimensions[1] < 1)
            throw new InvalidDataException($"{path}: the model has no output '{OnnxExporter.LogitsName}' of [N, classes] (it was not written by aw export).");
        (Channels, Height, Width) = (input.Dimensions[1], input.Dimensions[2], input.Dimensions[3]);
        Classes = output.Dimensions[1];
        InputDimensions = input.Dimensions;
        OutputDimensions = output.Dimensions;
        Metadata = _session.ModelMetadata.CustomMetadataMap;
    }

    public int Channels { get; }
    public int Height { get; }
    public int Width { get; }
    public int Classes { get; }

    /// <summary>The input's dims as ONNX Runtime inferred them (−1 for the dynamic batch).</summary>
    public int[] InputDimensions { get; }

    /// <summary>The logits' dims as ONNX Runtime inferred them (−1 for the dynamic batch).</summary>
    public int[] OutputDimensions { get; }

    /// <summary>The file's metadata_props.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>The logits [count, classes] of <paramref name="count"/> images starting at image <paramref name="first"/>
    /// of <paramref name="images"/> (row-major [*, C, H, W]).</summary>
    public float[] Logits(float[] images, int first, int count)
    {
        ArgumentNullException.ThrowIfNull(images);
        int item = Channels * Height * Width;
        var memory = new Memory<float>(images, first * item, count * item);
        using var input = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, memory, [count, Channels, Height, Width]);
        using var options = new RunOptions();
        using var outputs = _session.Run(options, [OnnxExporter.InputName], [input], [OnnxExporter.LogitsName]);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }

    public void Dispose() => _session.Dispose();
}

/// <summary>One test image that AttentionWise and ONNX Runtime classify differently, with each one's logit margin
/// (its top logit less the other's class's logit: how close the image was to the boundary).</summary>
internal sealed record OnnxFlip(int Index, int Label, int AttentionWiseClass, int OnnxClass, float AttentionWiseMargin, float OnnxMargin);

/// <summary>AttentionWise's evaluation forward against ONNX Runtime on the same images.</summary>
/// <param name="Images">Images compared.</param>
/// <param name="AttentionWiseAccuracy">Accuracy (%) from AttentionWise's logits (argmax, first of equal maxima).</param>
/// <param name="OnnxAccuracy">Accuracy (%) from ONNX Runtime's logits.</param>
/// <param name="OnnxLoss">Mean NLL from ONNX Runtime's logits.</param>
/// <param name="MaxLogitDifference">The largest |difference| of one logit.</param>
/// <param name="MaxLogit">The largest |logit| (the scale of the difference).</param>
/// <param name="Flips">Images whose predicted class differs.</param>
/// <param name="AttentionWiseImagesPerSecond">AttentionWise's evaluation throughput (after one warm-up batch).</param>
/// <param name="OnnxImagesPerSecond">ONNX Runtime's throughput on the same batches (after one warm-up batch).</param>
internal sealed record OnnxAgreement(int Images, double AttentionWiseAccuracy, double OnnxAccuracy, double OnnxLoss, double MaxLogitDifference,
    double MaxLogit, IReadOnlyList<OnnxFlip> Flips, double AttentionWiseImagesPerSecond, double OnnxImagesPerSecond);

/// <summary>Runs an exported model over a test set with ONNX Runtime, alone or beside the network it came from.</summary>
internal static class OnnxEvaluation
{
    /// <summary>The predicted class of row <paramref name="row"/>: the first of equal maxima, as AttentionWise's loss counts.</summary>
    public static int ArgMax(ReadOnlySpan<float> logits, int row, int classes)
    {
        var r = logits.Slice(row * classes, classes);
        int best = 0;
        for (int k = 1; k < classes; k++)
        {
            if (r[k] > r[best])
                best = k;
        }
        return best;
    }

    /// <summary>ONNX Runtime's logits for every image of <paramref name="test"/>, in batches, and the throughput (images/s,
    /// after one warm-up batch).</summary>
    public static (float[] Logits, double ImagesPerSecond) OnnxLogits(OnnxRuntimeModel model, Dataset test, int batch)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(test);
        Require(model, test);
        var logits = new float[test.Count * model.Classes];
        if (test.Count > 0)
            model.Logits(test.Images, 0, Math.Min(batch, test.Count));
        var clock = Stopwatch.StartNew();
        for (int offset = 0; offset < test.Count; offset += batch)
        {
            int size = Math.Min(batch, test.Count - offset);
            model.Logits(test.Images, offset, size).CopyTo(logits, offset * model.Classes);
        }
        return (logits, test.Count / Math.Max(clock.Elapsed.TotalSeconds, 1e-9));
    }

    /// <summary>AttentionWise's logits (evaluation mode) for every image of <paramref name="test"/>, in batches, and the
    /// throughput (images/s, with the upload and download of each batch, after one warm-up batch). The network's mode is
    /// restored.</summary>
    public static (float[] Logits, double ImagesPerSecond) AttentionWiseLogits(Module network, Dataset test, int batch)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(test);
        bool training = network.Training;
        network.Eval();
        try
        {
            int item = test.ItemLength;
            int classes = -1;
            float[] Run(int offset, int size)
            {
                var images = new float[size * item];
                Array.Copy(test.Images, (long)offset * item, images, 0, images.Length);
                using var x = network.Device.Upload(Shape.Of(size, test.Channels, test.Height, test.Width), images);
                return network.Forward(x).Download();
            }
            if (test.Count == 0)
                return ([], 0);
            var warm = Run(0, Math.Min(batch, test.Count));
            classes = warm.Length / Math.Min(batch, test.Count);
            var logits = new float[test.Count * classes];
            var clock = Stopwatch.StartNew();
            for (int offset = 0; offset < test.Count; offset += batch)
            {
                int size = Math.Min(batch, test.Count - offset);
                Run(offset, size).CopyTo(logits, offset * classes);
            }
            return (logits, test.Count / Math.Max(clock.Elapsed.TotalSeconds, 1e-9));
        }
        finally
        {
            network.Train(training);
        }
    }

    /// <summary>Accuracy (%) and mean NLL of logits against labels.</summary>
    public static (double Accuracy, double Loss) Score(ReadOnlySpan<float> logits, IReadOnlyList<int> labels, int classes)
    {
        if (labels.Count == 0)
            return (double.NaN, double.NaN);
        long correct = 0;
        double loss = 0;
        for (int n = 0; n < labels.Count; n++)
        {
            if (ArgMax(logits, n, classes) == labels[n])
                correct++;
            var r = logits.Slice(n * classes, classes);
            double max = double.NegativeInfinity;
            foreach (var v in r)
                max = Math.Max(max, v);
            double sum = 0;
            foreach (var v in r)
                sum += Math.Exp(v - max);
            loss += max + Math.Log(sum) - r[labels[n]];
        }
        return (100.0 * correct / labels.Count, loss / labels.Count);
    }

    /// <summary>Both passes over <paramref name="test"/> and their agreement.</summary>
    public static OnnxAgreement Compare(Module network, OnnxRuntimeModel model, Dataset test, int batch)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(test);
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        var (aw, awSpeed) = AttentionWiseLogits(network, test, batch);
        var (ort, ortSpeed) = OnnxLogits(model, test, batch);
        int classes = model.Classes;
        if (aw.Length != ort.Length)
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                $"The network gives {aw.Length / Math.Max(1, test.Count)} outputs per image but the ONNX model {classes}."));
        double maxDiff = 0, maxLogit = 0;
        for (int i = 0; i < aw.Length; i++)
        {
            maxDiff = Math.Max(maxDiff, Math.Abs((double)aw[i] - ort[i]));
            maxLogit = Math.Max(maxLogit, Math.Abs((double)aw[i]));
        }
        var flips = new List<OnnxFlip>();
        for (int n = 0; n < test.Count; n++)
        {
            int a = ArgMax(aw, n, classes), o = ArgMax(ort, n, classes);
            if (a != o)
                flips.Add(new OnnxFlip(n, test.Labels[n], a, o, aw[n * classes + a] - aw[n * classes + o], ort[n * classes + o] - ort[n * classes + a]));
        }
        var (awAccuracy, _) = Score(aw, test.Labels, classes);
        var (ortAccuracy, ortLoss) = Score(ort, test.Labels, classes);
        return new OnnxAgreement(test.Count, awAccuracy, ortAccuracy, ortLoss, maxDiff, maxLogit, flips, awSpeed, ortSpeed);
    }

    private static void Require(OnnxRuntimeModel model, Dataset test)
    {
        if ((model.Channels, model.Height, model.Width) != (test.Channels, test.Height, test.Width))
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                $"The ONNX model takes {model.Channels}×{model.Height}×{model.Width} images but the test set holds {test.Channels}×{test.Height}×{test.Width} images."));
    }
}
