using AttentionWise.Layers;
using AttentionWise.Training.Checkpoints;
using AttentionWise.Training.Data;
using AttentionWise.Training.Models;

namespace AttentionWise.Training;

/// <summary>What `aw predict` was asked for.</summary>
/// <param name="Checkpoint">The checkpoint file.</param>
/// <param name="Images">Image files and folders (a folder gives its .png/.jpg/.jpeg files, recursively).</param>
/// <param name="Top">How many of the most probable classes each image reports.</param>
/// <param name="Device">The device choice (null: auto).</param>
/// <param name="BatchSize">Images per forward pass.</param>
public sealed record PredictRequest(string Checkpoint, IReadOnlyList<string> Images, int Top = 3, string? Device = null, int BatchSize = 256);

/// <summary>One class and its probability.</summary>
public sealed record ClassProbability(int Index, string Name, double Probability);

/// <summary>One image's result: the most probable class first, then the next ones, <see cref="PredictRequest.Top"/> in all;
/// <see cref="Probabilities"/> holds every class's.</summary>
public sealed record Prediction(string Image, IReadOnlyList<ClassProbability> Top, double[] Probabilities)
{
    public ClassProbability Best => Top[0];
}

/// <summary>The predictions of a checkpoint's model on images.</summary>
public sealed record PredictOutcome(CheckpointInfo Info, IReadOnlyList<string> ClassNames, IReadOnlyList<Prediction> Predictions, string DeviceName);

/// <summary>
/// Classifies image files with a checkpoint's model in evaluation mode, with the preprocessing of its training: the
/// model's channels (grayscale or RGB), its image size (resized when the run used --resize, else the images must have
/// that size), pixels as byte / 255. Class names come from the checkpoint (an image folder's) or its standard data set.
/// </summary>
public static class Predictor
{
    /// <exception cref="CheckpointException">The checkpoint is missing or damaged.</exception>
    /// <exception cref="DatasetException">An image is missing, damaged, of another size or not PNG/JPEG; the message names it.</exception>
    /// <exception cref="InvalidRequestException">--top or the batch size is not positive.</exception>
    public static PredictOutcome Run(PredictRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Top < 1)
            throw new InvalidRequestException(RunSetting.BatchSize, FormattableString.Invariant($"--top must be at least 1, not {request.Top}."));
        if (request.BatchSize < 1)
            throw new InvalidRequestException(RunSetting.BatchSize, FormattableString.Invariant($"must be at least 1, not {request.BatchSize}."));
        var (info, tensors) = Checkpoint.Load(request.Checkpoint);
        var names = Datasets.ClassNames(info.Settings);
        if (names.Count != info.Model.Classes)
        {
            throw new CheckpointException(FormattableString.Invariant(
                $"{request.Checkpoint}: the model has {info.Model.Classes} outputs but the run names {names.Count} classes ({string.Join(", ", names)})."));
        }
        var files = ImageFolder.Expand(request.Images);
        if (files.Count == 0)
            throw new DatasetException("No image to predict: name image files (.png, .jpg) or folders that hold them.");
        var model = info.Model;
        var size = new ImageSize(model.Height, model.Width);
        bool resize = info.Settings.Resize is not null;
        int item = model.Channels * model.Height * model.Width;
        var pixels = new float[(long)item * files.Count];
        var errors = new string?[files.Count];
        Parallel.For(0, files.Count, i =>
        {
            try
            {
                ImageFolder.ReadImage(files[i], model.Channels, size, resize).CopyTo(pixels, (long)i * item);
            }
            catch (DatasetException e)
            {
                errors[i] = e.Message;
            }
        });
        if (errors.FirstOrDefault(e => e is not null) is string error)
            throw new DatasetException(error);

        using var device = ComputeDevice.Open(request.Device);
        int batch = Math.Min(request.BatchSize, files.Count);
        ModelFootprint.Of(model, batch, training: false).WithData("the images", (double)pixels.Length).Require(device);
        using var trainable = ModelRegistry.Create(device, model);
        Checkpoint.Restore(request.Checkpoint, tensors, trainable, adam: null, 0);
        var logits = Logits(trainable.Network, device, pixels, files.Count, model, batch);
        int top = Math.Min(request.Top, names.Count);
        var predictions = new List<Prediction>(files.Count);
        for (int i = 0; i < files.Count; i++)
        {
            var p = Softmax(logits.AsSpan(i * names.Count, names.Count));
            var best = Enumerable.Range(0, names.Count).OrderByDescending(c => p[c]).ThenBy(c => c).Take(top)
                .Select(c => new ClassProbability(c, names[c], p[c])).ToList();
            predictions.Add(new Prediction(files[i], best, p));
        }
        return new PredictOutcome(info, names, predictions, device.Name);
    }

    /// <summary>The network's outputs in evaluation mode, [N, classes] row-major.</summary>
    private static float[] Logits(Module net, ComputeDevice device, float[] pixels, int count, ModelConfig model, int batch)
    {
        int item = model.Channels * model.Height * model.Width;
        var result = new float[(long)count * model.Classes];
        net.Eval();
        try
        {
            for (int offset = 0; offset < count; offset += batch)
            {
                int n = Math.Min(batch, count - offset);
                using var x = device.Upload(Shape.Of(n, model.Channels, model.Height, model.Width), pixels[(offset * item)..((offset + n) * item)]);
                var y = net.Forward(x).Download();
                Array.Copy(y, 0, result, (long)offset * model.Classes, (long)n * model.Classes);
            }
        }
        finally
        {
            net.Train();
        }
        return result;
    }

    /// <summary>Softmax in double precision, shifted by the largest logit.</summary>
    public static double[] Softmax(ReadOnlySpan<float> logits)
    {
        double max = double.NegativeInfinity;
        foreach (float v in logits)
            max = Math.Max(max, v);
        var p = new double[logits.Length];
        double sum = 0;
        for (int i = 0; i < p.Length; i++)
            sum += p[i] = Math.Exp(logits[i] - max);
        for (int i = 0; i < p.Length; i++)
            p[i] /= sum;
        return p;
    }
}
