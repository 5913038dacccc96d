using AttentionWise.Layers;
using AttentionWise.Training.Checkpoints;
using AttentionWise.Training.Data;
using AttentionWise.Training.Models;

namespace AttentionWise.Training;

/// <summary>What `aw eval` was asked for.</summary>
/// <param name="Checkpoint">The checkpoint file.</param>
/// <param name="Device">The device choice (null: auto).</param>
/// <param name="DataDirectory">The data directory (null: the run's own).</param>
/// <param name="BatchSize">Images per pass (null: the run's training part size).</param>
public sealed record EvalRequest(string Checkpoint, string? Device = null, string? DataDirectory = null, int? BatchSize = null);

/// <summary>A checkpoint's result on its dataset's test set.</summary>
public sealed record EvalOutcome(CheckpointInfo Info, int TestImages, double Loss, double Accuracy, string DeviceName);

/// <summary>Test-set evaluation: after every epoch of a run, and of a checkpoint on its own.</summary>
public static class Evaluation
{
    /// <summary>Mean NLL and accuracy (%) of a network in evaluation mode over a device-resident set, in batches.</summary>
    public static (double Loss, double Accuracy) Evaluate(Module net, LogSoftmaxNllLoss loss, DeviceTensor images, DeviceIntTensor labels, DeviceIntTensor order, int batch)
    {
        ArgumentNullException.ThrowIfNull(net);
        ArgumentNullException.ThrowIfNull(loss);
        ArgumentNullException.ThrowIfNull(images);
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        var device = images.Device;
        int n = images.Shape.N;
        net.Eval();
        try
        {
            if (n == 0)
                return (double.NaN, double.NaN);
            var item = images.Shape.ToArray();
            int size0 = Math.Min(batch, n);
            item[0] = size0;
            using var x = device.Allocate(Shape.Of(item));
            using var y = new DeviceIntTensor(device, Shape.Of(size0));
            double lossSum = 0;
            long correct = 0;
            for (int offset = 0; offset < n; offset += Math.Min(batch, n - offset))
            {
                int size = Math.Min(batch, n - offset);
                item[0] = size;
                x.Resize(Shape.Of(item));
                y.Resize(Shape.Of(size));
                Gather.Rows(images, order, offset, x);
                Gather.Rows(labels, order, offset, y);
                loss.Forward(net.Forward(x), y);
                var (l, c) = loss.Result();
                lossSum += (double)l * size;
                correct += c;
            }
            return (lossSum / n, 100.0 * correct / n);
        }
        finally
        {
            net.Train();
        }
    }

    /// <summary>Loads a checkpoint (checked, finite weights only), its dataset's test set, and evaluates it.</summary>
    /// <exception cref="CheckpointException">The checkpoint is missing, damaged or holds non-finite weights.</exception>
    /// <exception cref="InvalidRequestException">The data does not fit the checkpoint's model, or the batch size is not positive.</exception>
    /// <exception cref="ModelTooLargeException">The model with its batch does not fit the device.</exception>
    /// <param name="request">The checkpoint, device, data and batch size.</param>
    /// <param name="loaded">Receives an image folder's load report.</param>
    public static EvalOutcome Run(EvalRequest request, Action<ImageLoadReport>? loaded = null)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.BatchSize is < 1)
            throw new InvalidRequestException(RunSetting.BatchSize, FormattableString.Invariant($"must be at least 1, not {request.BatchSize}."));
        var (info, tensors) = Checkpoint.Load(request.Checkpoint);
        using var device = ComputeDevice.Open(request.Device);
        string? dataDirectory = request.DataDirectory ?? info.Settings.DataDirectory;
        var test = Datasets.Load(info.Settings with { DataDirectory = dataDirectory }, testOnly: true, loaded).Test;
        if ((test.Channels, test.Height, test.Width) != (info.Model.Channels, info.Model.Height, info.Model.Width))
        {
            throw new InvalidRequestException(RunSetting.DataDirectory,
                $"{dataDirectory ?? "(the default)"} holds {test.Channels}×{test.Height}×{test.Width} test images but the checkpoint's model takes {info.Model.InputDescription} images.");
        }
        int batch = request.BatchSize ?? RunResolution.PartSize(info.Model.Name, info.Settings);
        ModelFootprint.Of(info.Model, Math.Min(batch, Math.Max(1, test.Count)), training: false)
            .WithData("the test set", (double)test.Count * test.ItemLength)
            .Require(device);
        using var model = ModelRegistry.Create(device, info.Model);
        Checkpoint.Restore(request.Checkpoint, tensors, model, adam: null, 0);
        using var loss = new LogSoftmaxNllLoss(device);
        using var images = device.Upload(test.Shape, test.Images);
        using var labels = DeviceIntTensor.Upload(device, test.Labels);
        using var order = DeviceIntTensor.Upload(device, Enumerable.Range(0, test.Count).ToArray());
        var (meanLoss, accuracy) = Evaluate(model.Network, loss, images, labels, order, batch);
        return new EvalOutcome(info, test.Count, meanLoss, accuracy, device.Name);
    }
}
